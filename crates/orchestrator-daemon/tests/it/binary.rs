//! The binary's settings and exit codes.

use std::process::Command;

fn orchestrator() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SOLSTICE_") {
            command.env_remove(name);
        }
    }
    command
}

fn check(env: &[(&str, &str)], args: &[&str], code: i32, says: &str) {
    let output = orchestrator().envs(env.iter().copied()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{env:?} {args:?}: {stderr}");
    assert!(stderr.contains(says), "{env:?} {args:?}: expected {says:?} in {stderr}");
}

const KEY: (&str, &str) = ("SOLSTICE_BUS_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
const AMQP: (&str, &str) = ("SOLSTICE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");

#[test]
fn configuration_errors_exit_2() {
    check(&[KEY], &[], 2, "SOLSTICE_AMQP_URL is not set");
    check(&[AMQP], &[], 2, "SOLSTICE_BUS_KEY is not set");
    check(&[AMQP, ("SOLSTICE_BUS_KEY", "c2hvcnQ=")], &[], 2, "exactly 32");
    check(&[AMQP, KEY], &["--executor", "docker"], 2, "qemu or local");
    check(&[AMQP, KEY, ("SOLSTICE_CAPACITY", "many")], &[], 2, "SOLSTICE_CAPACITY");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orchestrator.toml");
    std::fs::write(&file, "labels = [\"linux-test\"]\ncolour = \"blue\"\n").unwrap();
    check(&[AMQP, KEY], &["--config", file.to_str().unwrap()], 2, "unknown field");
}

#[test]
fn an_unreachable_database_exits_3() {
    let state = tempfile::tempdir().unwrap();
    let vhost = testkit::rabbitmq::TestVhost::create();
    let url = vhost.url();
    let env = [
        ("SOLSTICE_AMQP_URL", url.as_str()),
        KEY,
        ("SOLSTICE_STATE_DIR", state.path().to_str().unwrap()),
        // Nothing listens on port 1.
        ("SOLSTICE_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
        ("SOLSTICE_EXECUTOR", "local"),
    ];
    let file = state.path().join("orchestrator.toml");
    std::fs::write(&file, "database_budget_secs = 1\n").unwrap();
    let output = orchestrator().envs(env).args(["--config", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
}
