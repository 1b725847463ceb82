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

use crate::fleet::{Infra, Memory};

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
    // The fakes answer from this runtime's workers, also while the main thread samples memory.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let bus =
        runtime.block_on(AmqpBus::connect(AmqpSettings::new(&infra.amqp_url()))).context("connect to RabbitMQ")?;
    let free = FreeSlots { orchestrator_id: "bench".into(), labels: [(LABEL.to_owned(), 1)].into_iter().collect() };
    let title = |what: &str| {
        format!(
            "P6 {what} idle RSS (polling its fake forge, RabbitMQ, {} s after polling), target <= 15 MB",
            settle.as_secs()
        )
    };

    let forgejo = runtime.block_on(fake_forgejo::FakeForgejo::start()).context("start the fake Forgejo")?;
    let runner = runtime.block_on(async {
        let token = forgejo.registration_token(fake_forgejo::Scope::Global);
        let register = ["register", "--no-interactive", "--instance", forgejo.url(), "--token", &token];
        let runner = start(
            forgejo_runner,
            &[&register, &["--name", "bench", "--labels", LABEL][..]].concat(),
            "daemon",
            &infra,
            &key,
        )
        .await?;
        // Polling with nothing to do is the idle state; the advert is repeated until the runner,
        // which subscribes once it has declared itself, has heard one.
        let polls = async || {
            let calls = |state: &fake_forgejo::Snapshot<'_>| (state.calls_of("FetchTask").len() >= 2).then_some(());
            forgejo.wait_for(Duration::from_millis(500), calls).await.is_ok()
        };
        advertise_until(&bus, &free, polls).await.context("forgejo-runner never polled")?;
        anyhow::Ok(runner)
    })?;
    Memory::settled(runner.child.id(), settle, &title("forgejo-runner daemon"))?;
    drop(runner);

    let github = runtime.block_on(fake_github::FakeGithub::start(fake_github::Config::default()));
    let github = github.context("start the fake GitHub")?;
    let runner = runtime.block_on(async {
        let (url, token) = (github.repo_url("octo", "bench"), github.registration_token());
        let configure =
            ["configure", "--unattended", "--url", &url, "--token", &token, "--name", "bench", "--labels", LABEL];
        let runner = start(github_runner, &configure, "run", &infra, &key).await?;
        let online = async || {
            let online = |fake: &fake_github::FakeGithub| {
                let id = fake.runners().first()?.id;
                (fake.runner_status(id).as_deref() == Some("Online")).then_some(())
            };
            github.wait_for(Duration::from_millis(500), online).await.is_some()
        };
        advertise_until(&bus, &free, online).await.context("github-runner never went Online")?;
        anyhow::Ok(runner)
    })?;
    Memory::settled(runner.child.id(), settle, &title("github-runner run"))
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

/// Registers the runner with `setup` (its one-shot registration command), then starts it with
/// `serve` (its long-running command) on the bench's vhost, both in a state dir of its own.
async fn start(binary: &Path, setup: &[&str], serve: &str, infra: &Infra, key: &str) -> Result<Runner> {
    let state = tempfile::tempdir()?;
    let mut register = Command::new(binary);
    register.args(setup).env("SOLSTICE_STATE_DIR", state.path());
    // Off the runtime: the fake it talks to answers from this runtime.
    let output = tokio::task::spawn_blocking(move || register.output()).await.context("join")??;
    if !output.status.success() {
        bail!(
            "{} {}: {}: {}",
            binary.display(),
            setup[0],
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let child = Command::new(binary)
        .arg(serve)
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
