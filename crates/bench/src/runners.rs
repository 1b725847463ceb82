//! P6 for the runners: `forgejo-runner daemon` and `github-runner run`, each registered with its
//! fake forge (tests/fake-forgejo, tests/fake-github, on 127.0.0.1) and connected to a RabbitMQ
//! vhost of the bench's own, where the bench advertises a free VM slot so that each runner polls
//! its forge as an idle production runner does. Their memory is read once they poll and have
//! settled.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bus::{AmqpBus, AmqpSettings, Bus, FreeSlots};

use crate::fleet::{Infra, memory};

/// A catalog label, as `github-runner configure` insists on one.
const LABEL: &str = "linux-test";
/// How long a runner may take to register and start polling.
const READY: Duration = Duration::from_secs(60);

/// A runner process; killed when dropped.
struct Runner {
    child: Child,
    _state: tempfile::TempDir,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `forgejo-runner` and `github-runner` beside this binary.
pub fn binaries() -> Result<(PathBuf, PathBuf)> {
    let here = std::env::current_exe()?;
    Ok((here.with_file_name("forgejo-runner"), here.with_file_name("github-runner")))
}

/// Measures both runners' idle memory and prints it.
pub fn rss(forgejo_runner: &Path, github_runner: &Path, settle: Duration) -> Result<()> {
    let infra = Infra::create()?;
    let key = contract::BusKey::generate().context("make a bus key")?;
    let key = key.to_base64().expose().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let bus = AmqpBus::connect(AmqpSettings::new(&infra.amqp_url())).await.context("connect to RabbitMQ")?;
        let free = FreeSlots { orchestrator_id: "bench".into(), labels: [(LABEL.to_owned(), 1)].into_iter().collect() };

        let forgejo = fake_forgejo::FakeForgejo::start().await.context("start the fake Forgejo")?;
        let runner = start_forgejo_runner(forgejo_runner, &forgejo, &infra, &key).await?;
        // Polling with nothing to do is the idle state; the advert is repeated until the runner,
        // which subscribes once it has declared itself, has heard one.
        let polls = async || {
            let wait = forgejo
                .wait_for(Duration::from_millis(500), |state| (state.calls_of("FetchTask").len() >= 2).then_some(()));
            wait.await.is_ok()
        };
        advertise_until(&bus, &free, polls).await.context("forgejo-runner never polled")?;
        report("forgejo-runner daemon", runner.child.id(), settle).await?;
        drop(runner);

        let config = fake_github::Config::default();
        let github = fake_github::FakeGithub::start(config).await.context("start the fake GitHub")?;
        let runner = start_github_runner(github_runner, &github, &infra, &key).await?;
        let online = async || {
            let wait = github.wait_for(Duration::from_millis(500), |fake| {
                let id = fake.runners().first()?.id;
                (fake.runner_status(id).as_deref() == Some("Online")).then_some(())
            });
            wait.await.is_some()
        };
        advertise_until(&bus, &free, online).await.context("github-runner never went Online")?;
        report("github-runner run", runner.child.id(), settle).await
    })
}

/// Publishes `free` until `seen` says the runner acts on it, for at most [`READY`].
async fn advertise_until(bus: &AmqpBus, free: &FreeSlots, mut seen: impl AsyncFnMut() -> bool) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < READY {
        bus.publish_slots(free).await.context("advertise a free slot")?;
        if seen().await {
            return Ok(());
        }
    }
    bail!("not within {} s", READY.as_secs())
}

/// Lets the process settle, sampling once a second, then prints its memory.
async fn report(what: &str, pid: u32, settle: Duration) -> Result<()> {
    let started = Instant::now();
    let mut last = memory(pid)?;
    while started.elapsed() < settle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = memory(pid)?;
    }
    let (rss, hwm, threads) = last;
    let (anon, file) = split(pid)?;
    let mib = |kb: u64| kb as f64 / 1024.0;
    println!(
        "P6 {what} idle RSS (polling its fake forge, RabbitMQ, {} s after polling), target <= 15 MB (MiB here):",
        settle.as_secs()
    );
    println!(
        "  VmRSS {:.1} MiB (anonymous {:.1}, file-backed {:.1})  VmHWM {:.1} MiB  threads {threads}",
        mib(rss),
        mib(anon),
        mib(file),
        mib(hwm)
    );
    Ok(())
}

/// `RssAnon` (what the process allocated) and `RssFile` (mapped code and data) in kB.
fn split(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("RssAnon:")?, field("RssFile:")?))
}

async fn start_forgejo_runner(
    binary: &Path,
    fake: &fake_forgejo::FakeForgejo,
    infra: &Infra,
    key: &str,
) -> Result<Runner> {
    let state = tempfile::tempdir()?;
    let token = fake.registration_token(fake_forgejo::Scope::Global);
    let mut register = Command::new(binary);
    register.args(["register", "--no-interactive", "--instance", fake.url(), "--token", &token]);
    register.args(["--name", "bench", "--labels", LABEL]);
    finish(register.env("SOLSTICE_STATE_DIR", state.path())).await.context("forgejo-runner register")?;
    let child = Command::new(binary)
        .arg("daemon")
        .env("SOLSTICE_STATE_DIR", state.path())
        .env("SOLSTICE_AMQP_URL", infra.amqp_url())
        .env("SOLSTICE_BUS_KEY", key)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    Ok(Runner { child, _state: state })
}

async fn start_github_runner(
    binary: &Path,
    fake: &fake_github::FakeGithub,
    infra: &Infra,
    key: &str,
) -> Result<Runner> {
    let state = tempfile::tempdir()?;
    let url = fake.repo_url("octo", "bench");
    let mut configure = Command::new(binary);
    configure.args(["configure", "--unattended", "--url", &url, "--token", &fake.registration_token()]);
    configure.args(["--name", "bench", "--labels", LABEL]);
    finish(configure.env("SOLSTICE_STATE_DIR", state.path())).await.context("github-runner configure")?;
    let child = Command::new(binary)
        .arg("run")
        .env("SOLSTICE_STATE_DIR", state.path())
        .env("SOLSTICE_AMQP_URL", infra.amqp_url())
        .env("SOLSTICE_BUS_KEY", key)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    Ok(Runner { child, _state: state })
}

/// Runs a one-shot command off the runtime (the fake it talks to answers from this runtime).
async fn finish(command: &mut Command) -> Result<()> {
    let mut command = std::mem::replace(command, Command::new("true"));
    let output = tokio::task::spawn_blocking(move || command.output()).await.context("join")??;
    if !output.status.success() {
        bail!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}
