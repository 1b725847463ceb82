//! The `forgejo-runner` binary against the fake Forgejo: what an operator sees (exit codes,
//! files, the job page).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use fake_forgejo::{FakeForgejo, JobSpec, Scope, Status};
use testkit::rabbitmq::TestVhost;

mod broker;
mod jobs;
mod network;
mod support;

use support::BUS_KEY;

/// Runs the binary in `dir` with only the given SOLSTICE_* variables.
async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_forgejo-runner"));
    command.args(args).current_dir(dir).kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("SOLSTICE_") {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the runner exits within a minute")
        .expect("the runner starts")
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn register(fake: &FakeForgejo, dir: &Path, state: &Path, token: &str) -> Output {
    let state = state.to_str().expect("a UTF-8 path");
    let args = [
        "register",
        "--no-interactive",
        "--instance",
        fake.url(),
        "--token",
        token,
        "--name",
        "solstice-1",
        "--labels",
        "linux-test:docker://node:20-bookworm,self-hosted:host",
        "--wait-for-server",
        "1",
    ];
    run(dir, &args, &[("SOLSTICE_STATE_DIR", state)]).await
}

#[tokio::test]
async fn register_writes_the_runner_file_in_the_state_dir() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let state = dir.path().join("state");
    let output = register(&fake, dir.path(), &state, &fake.registration_token(Scope::Global)).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let path = state.join(".runner");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).expect(".runner exists").permissions().mode() & 0o777, 0o600);
    }
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("JSON");
    let runners = fake.runners();
    assert_eq!(file["uuid"], runners[0].uuid.as_str());
    assert_eq!(runners[0].labels, ["linux-test", "self-hosted"]);
    assert!(!dir.path().join(".runner").exists(), "not in the working directory");
}

#[tokio::test]
async fn register_exits_4_for_an_invalid_token_3_for_no_server_and_2_for_usage() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let refused = register(&fake, dir.path(), dir.path(), "no-such-token").await;
    assert_eq!(code(&refused), 4, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("invalid_argument"), "{}", stderr(&refused));

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let args = ["register", "--no-interactive", "--instance", &url, "--token", "t", "--name", "n", "--labels", "a"];
    let unreachable = run(dir.path(), &[&args[..], &["--wait-for-server", "0"]].concat(), &[]).await;
    assert_eq!(code(&unreachable), 3, "{}", stderr(&unreachable));

    let interactive = run(dir.path(), &["register", "--instance", fake.url()], &[]).await;
    assert_eq!(code(&interactive), 2, "{}", stderr(&interactive));
    let missing = run(dir.path(), &["register", "--no-interactive", "--name", "n"], &[]).await;
    assert_eq!(code(&missing), 2, "{}", stderr(&missing));
    assert!(!dir.path().join(".runner").exists());
}

#[tokio::test]
async fn daemon_needs_the_broker_url_and_a_metrics_address_it_can_use_and_exits_4_when_forgejo_no_longer_knows_the_runner()
 {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let no_broker = run(dir.path(), &["daemon"], &[]).await;
    assert_eq!(code(&no_broker), 2, "{}", stderr(&no_broker));
    assert!(stderr(&no_broker).contains("SOLSTICE_AMQP_URL"), "{}", stderr(&no_broker));

    let stale = serde_json::json!({
        "WARNING": "", "id": 9, "uuid": "00000000-0000-4000-8000-000000000000", "name": "gone",
        "token": "0123456789abcdef0123456789abcdef01234567", "address": fake.url(), "labels": ["linux-test"],
    });
    std::fs::write(dir.path().join(".runner"), stale.to_string()).expect("writes");
    let vhost = TestVhost::create();
    let no_key = run(dir.path(), &["daemon"], &[("SOLSTICE_AMQP_URL", &vhost.url())]).await;
    assert_eq!(code(&no_key), 2, "{}", stderr(&no_key));
    assert!(stderr(&no_key).contains("SOLSTICE_BUS_KEY"), "{}", stderr(&no_key));
    let url = vhost.url();
    let env = [("SOLSTICE_AMQP_URL", url.as_str()), ("SOLSTICE_BUS_KEY", BUS_KEY)];
    let gone = run(dir.path(), &["daemon"], &env).await;
    assert_eq!(code(&gone), 4, "{}", stderr(&gone));
    assert!(stderr(&gone).contains("unauthenticated"), "{}", stderr(&gone));

    let bad_metrics = [&env[..], &[("SOLSTICE_METRICS_ADDR", "localhost")]].concat();
    let bad = run(dir.path(), &["daemon"], &bad_metrics).await;
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("SOLSTICE_METRICS_ADDR is not ADDRESS:PORT"), "{}", stderr(&bad));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken_addr = taken.local_addr().expect("its address").to_string();
    let busy = run(dir.path(), &["daemon"], &[&env[..], &[("SOLSTICE_METRICS_ADDR", &taken_addr)]].concat()).await;
    assert_eq!(code(&busy), 2, "{}", stderr(&busy));
    assert!(stderr(&busy).contains(&format!("listen on the metrics address {taken_addr}")), "{}", stderr(&busy));
}

#[tokio::test]
async fn generate_config_prints_a_config_the_daemon_accepts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = run(dir.path(), &["generate-config"], &[]).await;
    assert_eq!(code(&output), 0);
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(text.contains("capacity = 1") && text.contains("fetch_interval_secs = 2"), "{text}");
    std::fs::write(dir.path().join("runner.toml"), &text).expect("writes");
    // Past the settings (which the file passes), the daemon stops at the missing registration.
    let vhost = TestVhost::create();
    let url = vhost.url();
    let env = [("SOLSTICE_AMQP_URL", url.as_str()), ("SOLSTICE_BUS_KEY", BUS_KEY)];
    let daemon = run(dir.path(), &["daemon", "--config", "runner.toml"], &env).await;
    assert_eq!(code(&daemon), 2, "{}", stderr(&daemon));
    assert!(stderr(&daemon).contains("register"), "{}", stderr(&daemon));
}

#[tokio::test]
async fn an_ephemeral_registration_serves_one_job_then_is_gone_and_the_daemon_refuses_it() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let state = dir.path().to_str().expect("UTF-8");
    let token = fake.registration_token(Scope::Global);
    let args = [
        "register",
        "--no-interactive",
        "--instance",
        fake.url(),
        "--token",
        &token,
        "--name",
        "once",
        "--labels",
        "linux-test",
        "--ephemeral",
    ];
    let registered = run(dir.path(), &args, &[("SOLSTICE_STATE_DIR", state)]).await;
    assert_eq!(code(&registered), 0, "{}", stderr(&registered));
    assert!(fake.runners()[0].ephemeral);

    let vhost = TestVhost::create();
    let url = vhost.url();
    let env = [("SOLSTICE_STATE_DIR", state), ("SOLSTICE_AMQP_URL", url.as_str()), ("SOLSTICE_BUS_KEY", BUS_KEY)];
    let daemon = run(dir.path(), &["daemon"], &env).await;
    assert_eq!(code(&daemon), 2, "{}", stderr(&daemon));
    assert!(stderr(&daemon).contains("one-job"), "{}", stderr(&daemon));

    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - run: echo hi\n";
    let job = fake.add_job(JobSpec::new("build", payload, &["linux-test"], &["echo hi"]));
    // No orchestrator serves the label: the job fails, and one-job says so with exit 1.
    let once = run(dir.path(), &["one-job"], &env).await;
    assert_eq!(code(&once), 1, "{}", stderr(&once));
    assert_eq!(fake.view(job).map(|view| view.status), Some(Status::Failure));
    assert!(fake.runners().is_empty(), "Forgejo deletes an ephemeral runner after its task");

    let again = run(dir.path(), &["one-job"], &env).await;
    assert_eq!(code(&again), 4, "the registration is gone: {}", stderr(&again));
}

/// An idle daemon polls Forgejo once an orchestrator advertises a free slot, and SIGTERM ends
/// it cleanly. (Its idle memory, brief §7 P6, is measured by `bench rss`.)
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_idle_daemon_polls_once_a_slot_is_advertised_and_exits_0_on_sigterm() {
    use bus::{AmqpBus, AmqpSettings, Bus, FreeSlots};

    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let label = format!("runner-it-{}", std::process::id());
    let token = fake.registration_token(Scope::Global);
    let args = ["register", "--no-interactive", "--instance", fake.url(), "--token", &token, "--name", "idle"];
    let registered = run(dir.path(), &[&args[..], &["--labels", &label]].concat(), &[]).await;
    assert_eq!(code(&registered), 0, "{}", stderr(&registered));
    std::fs::write(dir.path().join("runner.toml"), "fetch_interval_secs = 0.05\n").expect("writes");

    let vhost = TestVhost::create();
    let broker = vhost.url();
    let broker = broker.as_str();
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_forgejo-runner"))
        .args(["daemon", "--config", "runner.toml"])
        .current_dir(dir.path())
        .env("SOLSTICE_AMQP_URL", broker)
        .env("SOLSTICE_BUS_KEY", BUS_KEY)
        .env_remove("SOLSTICE_STATE_DIR")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the daemon starts");
    let pid = daemon.id().expect("a pid");
    let bus = AmqpBus::connect(AmqpSettings::new(broker)).await.expect("the broker answers");
    let free = FreeSlots { orchestrator_id: "orch-idle".into(), labels: [(label.clone(), 1)].into_iter().collect() };
    // Polling with nothing to do is the idle state; adverts are repeated until the daemon, which
    // subscribes after Declare, has heard one.
    let mut polling = false;
    for _ in 0..100 {
        bus.publish_slots(&free).await.expect("published");
        let seen = fake.wait_for(Duration::from_millis(100), |s| (s.calls_of("FetchTask").len() >= 5).then_some(()));
        if seen.await.is_ok() {
            polling = true;
            break;
        }
    }
    assert!(polling, "the daemon polls once a slot is advertised");

    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), daemon.wait()).await.expect("stops").expect("waits");
    assert_eq!(exit.code(), Some(0));
}
