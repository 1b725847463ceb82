//! Registration against the fake Forgejo and the `.runner` file.

use std::time::Duration;

use fake_forgejo::{FakeForgejo, Scope};
use forgejo::labels::label_names;
use forgejo::{RegisterConfig, RegisterError, RunnerFile, RunnerToken, register};

fn config(url: &str, token: &str, dir: &std::path::Path) -> RegisterConfig {
    RegisterConfig {
        instance_url: url.to_owned(),
        registration_token: RunnerToken::new(token),
        name: "solstice-1".into(),
        labels: vec!["linux-test:docker://node:20-bookworm".into(), "self-hosted:host".into()],
        ephemeral: false,
        runner_file: dir.join(".runner"),
        wait_for_server: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn register_writes_a_private_runner_file_and_sends_label_names_only() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = config(fake.url(), &fake.registration_token(Scope::Global), dir.path());
    let written = register(&config).await.expect("registers");

    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].labels, ["linux-test", "self-hosted"]);
    assert_eq!(runners[0].uuid, written.uuid);

    let path = dir.path().join(".runner");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("the file exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("JSON");
    for key in ["WARNING", "id", "uuid", "name", "token", "address", "labels"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["address"], fake.url());
    assert_eq!(json["labels"], serde_json::json!(["linux-test:docker://node:20-bookworm", "self-hosted:host"]));
    let loaded = RunnerFile::load(&path).expect("loads");
    assert_eq!(loaded, written);
    assert_eq!(loaded.label_names().expect("names"), ["linux-test", "self-hosted"]);
}

#[tokio::test]
async fn an_invalid_registration_token_exits_4() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let error = register(&config(fake.url(), "not-a-token", dir.path())).await.expect_err("refused");
    assert!(matches!(error, RegisterError::Refused(_)), "{error:?}");
    assert_eq!(error.exit_code(), 4);
    assert!(!dir.path().join(".runner").exists());
}

#[tokio::test]
async fn an_unreachable_forgejo_exits_3_after_retrying() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let error = register(&config(&format!("http://127.0.0.1:{port}"), "t", dir.path())).await.expect_err("nobody");
    assert!(matches!(error, RegisterError::Unreachable { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 3);
}

#[test]
fn label_suffixes_are_stripped_and_bad_labels_refused() {
    let names =
        label_names(&["ubuntu-latest:docker://node:20-bookworm", "self-hosted:host", "", "debian:lxc://x", "a"])
            .expect("valid labels");
    assert_eq!(names, ["ubuntu-latest", "self-hosted", "debian", "a"]);
    assert_eq!(label_names(&["a", "a:host"]).expect("valid"), ["a"], "each name once");
    assert!(label_names(&[":docker://x"]).is_err());
    assert!(label_names(&["two words"]).is_err());
}
