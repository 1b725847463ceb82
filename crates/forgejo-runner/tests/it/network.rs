//! Reaching Forgejo the way a host behind a company network does: through the proxy named by
//! the standard variables, and over TLS on a private CA named by `SOLSTICE_CA_FILE`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

use fake_forgejo::{FakeForgejo, Scope};
use testkit::forward_proxy::ForwardProxy;
use testkit::tls::{Terminator, TestCa};

use crate::{code, run, stderr};

fn fake_addr(fake: &FakeForgejo) -> SocketAddr {
    fake.url().trim_start_matches("http://").parse().expect("the fake's address")
}

async fn register_at(fake: &FakeForgejo, instance: &str, dir: &Path, env: &[(&str, &str)]) -> Output {
    let state = dir.join("state");
    let state = state.to_str().expect("a UTF-8 path");
    let token = fake.registration_token(Scope::Global);
    let args = [
        "register",
        "--no-interactive",
        "--instance",
        instance,
        "--token",
        &token,
        "--name",
        "behind-a-proxy",
        "--labels",
        "linux-test",
        "--wait-for-server",
        "0",
    ];
    let env = [&[("SOLSTICE_STATE_DIR", state), ("NO_PROXY", ""), ("no_proxy", "")][..], env].concat();
    run(dir, &args, &env).await
}

#[tokio::test]
async fn forgejo_on_a_private_ca_is_reached_only_with_solstice_ca_file() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let ca = TestCa::generate();
    let tls = Terminator::start(&ca, fake_addr(&fake)).await;
    let dir = tempfile::tempdir().expect("a temporary directory");

    let untrusted = register_at(&fake, &tls.url(), dir.path(), &[]).await;
    assert_eq!(code(&untrusted), 3, "{}", stderr(&untrusted));
    assert!(stderr(&untrusted).contains("certificate"), "{}", stderr(&untrusted));
    assert!(fake.runners().is_empty());

    let ca_file = ca.ca_file();
    let ca_file = ca_file.to_str().expect("a UTF-8 path");
    let trusted = register_at(&fake, &tls.url(), dir.path(), &[("SOLSTICE_CA_FILE", ca_file)]).await;
    assert_eq!(code(&trusted), 0, "{}", stderr(&trusted));
    assert_eq!(fake.runners().len(), 1);
}

#[tokio::test]
async fn a_ca_file_that_is_not_there_is_a_configuration_error_naming_it() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = register_at(&fake, fake.url(), dir.path(), &[("SOLSTICE_CA_FILE", "/nonexistent/ca.pem")]).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("/nonexistent/ca.pem"), "{}", stderr(&output));
    assert!(fake.runners().is_empty());
}

#[tokio::test]
async fn https_goes_through_https_proxy_as_a_connect_tunnel() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let ca = TestCa::generate();
    let tls = Terminator::start(&ca, fake_addr(&fake)).await;
    let proxy = ForwardProxy::start().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca_file = ca.ca_file();
    let env = [("SOLSTICE_CA_FILE", ca_file.to_str().expect("UTF-8")), ("HTTPS_PROXY", proxy.url().leak() as &str)];
    let output = register_at(&fake, &tls.url(), dir.path(), &env).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let tunnel = format!("CONNECT 127.0.0.1:{}", tls.addr.port());
    assert!(proxy.requests().iter().any(|line| line.starts_with(&tunnel)), "{:?}", proxy.requests());
    assert_eq!(fake.runners().len(), 1);
}

#[tokio::test]
async fn http_goes_through_http_proxy_unless_no_proxy_names_the_host() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let proxy = ForwardProxy::start().await;
    let proxy_url = proxy.url();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let proxied = register_at(&fake, fake.url(), dir.path(), &[("HTTP_PROXY", &proxy_url)]).await;
    assert_eq!(code(&proxied), 0, "{}", stderr(&proxied));
    // The proxy records each connection's first request (the Ping before Register).
    let api = format!("POST {}/api/actions/", fake.url());
    assert!(proxy.requests().iter().any(|line| line.starts_with(&api)), "{:?}", proxy.requests());

    let seen = proxy.requests().len();
    let other = tempfile::tempdir().expect("a temporary directory");
    let direct =
        register_at(&fake, fake.url(), other.path(), &[("HTTP_PROXY", &proxy_url), ("NO_PROXY", "127.0.0.1")]).await;
    assert_eq!(code(&direct), 0, "{}", stderr(&direct));
    assert_eq!(proxy.requests().len(), seen, "NO_PROXY bypasses the proxy: {:?}", proxy.requests());
    assert_eq!(fake.runners().len(), 2);
}
