//! The Connect client against the fake Forgejo: the headers it sends and how errors are read.

use fake_forgejo::{Codec, FakeForgejo, Scope};
use forgejo::client::RegisterRequest;
use forgejo::{Client, Code, ConnectError, RunnerToken};

async fn registered(fake: &FakeForgejo) -> Client {
    let client = Client::new(fake.url()).expect("a client of the fake");
    let request = RegisterRequest {
        name: "runner-1".into(),
        registration_token: RunnerToken::new(fake.registration_token(Scope::Global)),
        labels: vec!["linux-test".into()],
        ephemeral: false,
    };
    let runner = client.register(&request).await.expect("registers");
    let credentials =
        forgejo::Credentials { uuid: runner.uuid, token: runner.token.expect("Register answers a runner token") };
    client.with_credentials(&credentials).expect("credentials fit in headers")
}

#[tokio::test]
async fn calls_carry_the_connect_headers_and_the_runner_credentials() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let client = registered(&fake).await;
    client.declare(&["linux-test".to_owned()]).await.expect("declares");
    let calls = fake.calls();
    let declare = calls.iter().find(|call| call.method == "Declare").expect("Declare was called");
    assert_eq!(declare.codec, Some(Codec::Proto));
    assert_eq!(declare.connect_protocol_version.as_deref(), Some("1"));
    assert!(declare.user_agent.as_deref().is_some_and(|agent| agent.starts_with("solstice-forgejo-runner/")));
    assert!(declare.accept_encoding.as_deref().is_some_and(|encoding| encoding.contains("gzip")));
    let runner = &fake.runners()[0];
    assert_eq!(declare.runner_uuid.as_deref(), Some(runner.uuid.as_str()));
    assert!(declare.runner_token.is_some());
    let register = calls.iter().find(|call| call.method == "Register").expect("Register was called");
    assert_eq!(register.runner_uuid, None, "Register goes without credentials");
}

#[tokio::test]
async fn connect_errors_are_read_by_their_code() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let client = registered(&fake).await;
    let cases = [
        (fake_forgejo::Code::Unauthenticated, Code::Unauthenticated, false),
        (fake_forgejo::Code::InvalidArgument, Code::InvalidArgument, false),
        (fake_forgejo::Code::AlreadyExists, Code::AlreadyExists, false),
        (fake_forgejo::Code::Internal, Code::Internal, true),
        (fake_forgejo::Code::Unavailable, Code::Unavailable, true),
        (fake_forgejo::Code::Unimplemented, Code::Unimplemented, false),
    ];
    for (injected, expected, transient) in cases {
        fake.fail_once(Some("Declare"), injected);
        let error = client.declare(&["linux-test".to_owned()]).await.expect_err("the injected error comes back");
        assert_eq!(error.code(), expected, "{injected:?}: {error}");
        assert_eq!(error.is_transient(), transient, "{injected:?}");
    }
}

#[tokio::test]
async fn a_proxy_page_that_is_not_json_is_read_by_its_http_status() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let client = Client::new(fake.url()).expect("a client of the fake");
    fake.proxy_down();
    let error = client.ping("x").await.expect_err("the proxy answers 503");
    assert!(matches!(error, ConnectError::Status { status: 503, code: Code::Unavailable, .. }), "{error:?}");
    assert!(error.is_transient());
    fake.clear_faults();
    assert_eq!(client.ping("solstice").await.expect("answers again"), "Hello, solstice!");
}

#[tokio::test]
async fn http_statuses_without_a_connect_body_map_like_connect_says() {
    let table = [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (413, Code::Unknown),
        (429, Code::Unavailable),
        (502, Code::Unavailable),
        (503, Code::Unavailable),
        (504, Code::Unavailable),
    ];
    for (status, code) in table {
        assert_eq!(Code::from_http_status(status), code, "HTTP {status}");
    }
    assert_eq!(Code::from_name("already_exists"), Some(Code::AlreadyExists));
    assert_eq!(Code::from_name("no_such_code"), None);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let client = Client::new(&format!("http://127.0.0.1:{port}")).expect("a client");
    let error = client.ping("x").await.expect_err("nobody listens");
    assert!(matches!(error, ConnectError::Transport { .. }), "{error:?}");
    assert_eq!(error.code(), Code::Unavailable);
    assert!(error.lost_in_transit());
}
