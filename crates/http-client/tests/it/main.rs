//! The client against a TLS server on a test CA: trusted only with the CA file, with a clear
//! error for a CA file that cannot be used.

use std::net::SocketAddr;

use http_client::{HttpSettings, SetupError, client_with, tls_config_with};
use testkit::tls::{Terminator, TestCa};

/// A plain HTTP server answering `hello` on every path.
async fn hello_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = axum::Router::new().fallback(|| async { "hello" });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(current) = source {
        text.push_str(": ");
        text.push_str(&current.to_string());
        source = current.source();
    }
    text
}

#[tokio::test]
async fn a_server_on_a_private_ca_is_trusted_only_with_its_ca_file() {
    let ca = TestCa::generate();
    let tls = Terminator::start(&ca, hello_server().await).await;

    let trusting = client_with(&HttpSettings { ca_file: Some(ca.ca_file()) }, |b| b).expect("a client");
    let body = trusting.get(tls.url()).send().await.expect("a TLS answer").text().await.expect("a body");
    assert_eq!(body, "hello");

    let plain = client_with(&HttpSettings::default(), |b| b).expect("a client");
    let error = plain.get(tls.url()).send().await.expect_err("an unknown CA is refused");
    let text = error_chain(&error);
    assert!(text.contains("certificate"), "{text}");
}

#[test]
fn a_ca_file_that_cannot_be_used_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("a directory");
    let missing = dir.path().join("missing.pem");
    let error = client_with(&HttpSettings { ca_file: Some(missing.clone()) }, |b| b).expect_err("no file");
    assert!(matches!(error, SetupError::ReadCaFile { .. }), "{error:?}");
    assert!(error.to_string().contains(&missing.display().to_string()), "{error}");
    assert!(error.to_string().contains("SOLSTICE_CA_FILE"), "{error}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let error = client_with(&HttpSettings { ca_file: Some(empty) }, |b| b).expect_err("no certificate");
    assert!(matches!(error, SetupError::NoCertificate { .. }), "{error:?}");

    // The websocket's TLS configuration refuses the same files the same way.
    let error = tls_config_with(&HttpSettings { ca_file: Some(missing.clone()) }).expect_err("no file");
    assert!(matches!(error, SetupError::ReadCaFile { .. }), "{error:?}");
    let error = tls_config_with(&HttpSettings { ca_file: Some(dir.path().join("empty.pem")) }).expect_err("empty");
    assert!(matches!(error, SetupError::NoCertificate { .. }), "{error:?}");

    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").expect("write");
    let error = client_with(&HttpSettings { ca_file: Some(broken) }, |b| b).expect_err("a broken certificate");
    assert!(matches!(error, SetupError::BadCertificate { .. }), "{error:?}");
}
