//! The runner's link to RabbitMQ taken away mid-job through a proxy (the orchestrator keeps its
//! own): what the job's page shows and what the daemon does.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use fake_forgejo::{JobSpec, Status};
use testkit::proxy::Proxy;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::support::{LABEL, Site};

const BROKER: &str = "127.0.0.1:5672";

/// Starts `forgejo-runner daemon` reaching the site's vhost through `proxy`; its stderr is
/// collected by the returned task until the daemon exits.
fn start_daemon_through(site: &Site, proxy: &Proxy) -> (Child, JoinHandle<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_forgejo-runner"));
    command.args(["daemon", "--config", "runner.toml"]).current_dir(site.dir.path()).kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("SOLSTICE_") {
            command.env_remove(name);
        }
    }
    for (name, value) in site.env() {
        command.env(name, value);
    }
    command.env("SOLSTICE_AMQP_URL", site.vhost.url_on(proxy.port()));
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("the daemon starts");
    let mut stderr = child.stderr.take().expect("a piped stderr");
    let collected = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    (child, collected)
}

async fn broker_proxy() -> Proxy {
    Proxy::start(BROKER.parse::<SocketAddr>().expect("an address")).await
}

#[tokio::test]
async fn a_10_s_broker_outage_mid_job_loses_and_doubles_no_line() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let proxy = broker_proxy().await;
    let (_daemon, _stderr) = start_daemon_through(&site, &proxy);
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: count\n        run: for i in $(seq 1 20); do printf 'tick %02d\\n' \"$i\"; sleep 1; done\n";
    let job = site.fake.add_job(JobSpec::new("build", payload, &[LABEL], &["count"]));
    site.wait_for_row(job, "tick 03", Duration::from_secs(90)).await;
    proxy.cut();
    // The runner notices and tries to come back while the broker is away.
    tokio::time::timeout(Duration::from_secs(30), proxy.refused_one()).await.expect("the runner reconnects");
    // The outage itself lasts ~10 s: this is the fault's length, not a wait for an event.
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.restore();
    let view = site.fake.wait_until_finished(job, Duration::from_secs(90)).await.expect("the job ends");
    assert_eq!(view.status, Status::Success, "{view:#?}");
    let step = view.step("count").expect("the count step");
    assert_eq!(step.status, Status::Success, "{step:#?}");
    for i in 1..=20 {
        let line = format!("tick {i:02}");
        let seen = step.rows.iter().filter(|row| row.trim_end().ends_with(&line)).count();
        assert_eq!(seen, 1, "{line}: {:#?}", step.rows);
    }
    assert!(view.log_archived, "the log is closed");
}

#[tokio::test]
async fn a_broker_gone_for_good_mid_job_fails_the_task_with_a_row_and_the_daemon_exits_3() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let proxy = broker_proxy().await;
    let (mut daemon, stderr) = start_daemon_through(&site, &proxy);
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: long\n        run: echo started; sleep 300\n";
    let job = site.fake.add_job(JobSpec::new("build", payload, &[LABEL], &["long"]));
    site.wait_for_row(job, "started", Duration::from_secs(90)).await;
    let cut_at = std::time::Instant::now();
    proxy.cut();
    let view = site.fake.wait_until_finished(job, Duration::from_secs(150)).await.expect("the task ends");
    eprintln!("broker cut to task failed: {:?}", cut_at.elapsed());
    assert_eq!(view.status, Status::Failure, "{view:#?}");
    assert!(view.step("long").is_some_and(|step| step.status != Status::Running), "{view:#?}");
    let rows = site.rows(job);
    assert!(rows.iter().any(|row| row.contains("Nothing was heard about this job for 60 s")), "{rows:#?}");
    assert!(view.log_archived, "the log is closed");

    // Once the reconnect budget is spent the daemon ends with the bus-lost exit code, not a panic.
    let exit = tokio::time::timeout(Duration::from_secs(240), daemon.wait()).await.expect("exits").expect("waits");
    let stderr = stderr.await.expect("collected");
    eprintln!("broker cut to daemon exit: {:?}", cut_at.elapsed());
    assert_eq!(exit.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(site.fake.view(job).map(|view| view.status), Some(Status::Failure));
}
