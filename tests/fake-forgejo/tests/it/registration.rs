//! Ping, Register, Declare and authentication (forgejo.md §1.3, §3.1–§3.3).

use fake_forgejo::proto::ping::v1 as ping;
use fake_forgejo::proto::runner::v1 as wire;
use fake_forgejo::{FakeForgejo, Scope};

use crate::client::{Client, registered};

fn register_request(token: &str, name: &str) -> wire::RegisterRequest {
    wire::RegisterRequest {
        name: name.into(),
        token: token.into(),
        version: "v12.0.0".into(),
        labels: vec!["linux".into(), "illumos".into()],
        ephemeral: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn ping_answers_hello_without_credentials() {
    let fake = FakeForgejo::start().await.unwrap();
    let answer: ping::PingResponse = Client::new(&fake)
        .call("ping.v1.PingService/Ping", &ping::PingRequest { data: "runner-1".into() })
        .await
        .unwrap();
    assert_eq!(answer.data, "Hello, runner-1!");
}

#[tokio::test]
async fn register_creates_a_runner_with_a_uuid_and_a_40_hex_token() {
    let fake = FakeForgejo::start().await.unwrap();
    let token = fake.registration_token(Scope::Repo("solstice/test".into()));
    let runner = Client::new(&fake).register(&register_request(&token, "builder")).await.unwrap().runner.unwrap();
    assert!(uuid::Uuid::parse_str(&runner.uuid).is_ok_and(|uuid| uuid.get_version_num() == 4));
    assert_eq!(runner.token.len(), 40);
    assert!(runner.token.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!((runner.name.as_str(), runner.version.as_str(), runner.ephemeral), ("builder", "v12.0.0", true));
    assert_eq!(runner.labels, ["linux", "illumos"]);

    let listed = fake.runners();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].uuid, runner.uuid);
    assert_eq!(listed[0].labels, ["linux", "illumos"]);
    assert!(listed[0].ephemeral);
    assert_eq!(listed[0].scope, Scope::Repo("solstice/test".into()));
    assert_eq!(listed[0].last_online, None);
}

#[tokio::test]
async fn register_refuses_an_empty_token_or_name() {
    let fake = FakeForgejo::start().await.unwrap();
    let token = fake.registration_token(Scope::Global);
    let client = Client::new(&fake);
    for request in [register_request("", "builder"), register_request(&token, "")] {
        let failure = client.register(&request).await.unwrap_err();
        assert_eq!((failure.status, failure.code()), (400, "invalid_argument".into()));
    }
    assert!(fake.runners().is_empty());
}

#[tokio::test]
async fn a_registration_token_is_reusable_until_a_new_one_is_made_for_its_scope() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = Client::new(&fake);
    let unknown = client.register(&register_request("no-such-token", "a")).await.unwrap_err();
    assert_eq!(unknown.code(), "invalid_argument");

    let first = fake.registration_token(Scope::Owner("solstice".into()));
    client.register(&register_request(&first, "a")).await.unwrap();
    client.register(&register_request(&first, "b")).await.unwrap();
    // A token of another scope leaves this one alone; a new one of the same scope retires it.
    fake.registration_token(Scope::Global);
    client.register(&register_request(&first, "c")).await.unwrap();
    let second = fake.registration_token(Scope::Owner("solstice".into()));
    let invalidated = client.register(&register_request(&first, "d")).await.unwrap_err();
    assert_eq!(invalidated.code(), "invalid_argument");
    assert!(invalidated.body.contains("invalidated"), "{}", invalidated.body);
    client.register(&register_request(&second, "e")).await.unwrap();

    let names: Vec<String> = fake.runners().into_iter().map(|runner| runner.name).collect();
    assert_eq!(names, ["a", "b", "c", "e"]);
}

#[tokio::test]
async fn declare_replaces_the_labels_and_the_version() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["old"], false).await;
    let runner = client.declare(&["linux", "illumos"]).await.unwrap().runner.unwrap();
    assert_eq!(runner.labels, ["linux", "illumos"]);
    assert_eq!(runner.version, "v9");
    assert!(runner.token.is_empty(), "the token is only returned by Register");

    let listed = &fake.runners()[0];
    assert_eq!(listed.labels, ["linux", "illumos"]);
    assert_eq!(listed.version, "v9");
    assert!(listed.last_online.is_some(), "an authenticated call marks the runner online");
}

#[tokio::test]
async fn calls_without_valid_credentials_are_unauthenticated() {
    let fake = FakeForgejo::start().await.unwrap();
    let good = registered(&fake, &["linux"], false).await;

    let mut wrong_token = good.clone();
    wrong_token.token = Some("0".repeat(40));
    let mut unknown_uuid = good.clone();
    unknown_uuid.uuid = Some(uuid::Uuid::new_v4().to_string());
    let anonymous = Client::new(&fake);

    for client in [wrong_token, unknown_uuid, anonymous] {
        let failure = client.declare(&["linux"]).await.unwrap_err();
        assert_eq!((failure.status, failure.code()), (401, "unauthenticated".into()));
        let failure = client.fetch(0).await.unwrap_err();
        assert_eq!(failure.code(), "unauthenticated");
    }
    assert!(good.declare(&["linux"]).await.is_ok());
}

#[tokio::test]
async fn a_runner_created_by_an_admin_matches_jobs_only_after_declare() {
    let fake = FakeForgejo::start().await.unwrap();
    let secret = "0123456789abcdef0123456789abcdef01234567";
    let created = fake.create_runner_with_secret("cli", Scope::Global, secret).unwrap();
    assert_eq!(created.token, secret);
    // The uuid is the secret's first 16 ASCII bytes as raw bytes: "0123" is 0x30 0x31 0x32 0x33.
    assert!(created.uuid.starts_with("30313233-3435-3637-3839-616263646566"), "{}", created.uuid);
    assert!(fake.create_runner_with_secret("bad", Scope::Global, "not-hex").is_none());

    let mut client = Client::new(&fake);
    client.uuid = Some(created.uuid);
    client.token = Some(created.token);
    fake.add_job(crate::client::two_step_job());
    assert!(client.fetch(0).await.unwrap().task.is_none(), "no labels, no match");
    client.declare(&["linux"]).await.unwrap();
    assert!(client.fetch(0).await.unwrap().task.is_some());

    let rest = fake.create_runner("rest", Scope::Global);
    assert_eq!(rest.token.len(), 40);
    assert!(fake.runners().iter().any(|runner| runner.uuid == rest.uuid && runner.labels.is_empty()));
}
