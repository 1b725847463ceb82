//! The qemu executor against real QEMU (TCG) booting the real `linux-test` image.
//!
//! **Network.** Every test runs on a thread of its own that first `unshare`s a fresh network
//! namespace holding only `lo` and a tap device with a TEST-NET-1 address and a default route to
//! a gateway that does not exist ([`in_test_netns`]); every process the test starts (passt, QEMU,
//! `ip`) is spawned from that thread or from threads it starts, so it inherits the namespace. The
//! executor's `PerVm` mode then makes a further namespace per VM inside that. No packet can leave
//! this machine. Needs root (CAP_SYS_ADMIN). The isolation test adds a third namespace, the
//! "WAN", behind the test's own (see `isolation.rs`); `Uplink::Routed` needs `nft` (nftables).
//!
//! **Skips.** Without `/var/lib/solstice/images/linux-test` (`images/build-test-image.sh`) or
//! without root, the tests print a loud SKIPPED line and pass, unless `SOLSTICE_REQUIRE_VM` is
//! set (CI sets it once it has built the image), when they fail instead.
//!
//! **Agent.** `workflow-runner` must be built first (`cargo build -p workflow-runner`, which CI
//! does): the tests look for it in `$SOLSTICE_AGENT_DIR/<target>/` when that is set, else in the
//! target directory above this test binary.

mod agentless;
mod boot;
mod isolation;
mod jobs;
mod leftovers;
mod through_orchestrator;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use contract::{ControlMessage, Event, ForgeKind, JobRequest, JobResult, Origin, StepCommand, Template};
use orchestrator::{AgentOutput, Executor, JobHandle, JobStart};
use tokio::time::Instant;
use ulid::Ulid;
use vm::{AccelChoice, Catalog, NetworkMode, QemuExecutor, QemuExecutorConfig, Uplink};

const IMAGES: &str = "/var/lib/solstice/images";
const LABEL: &str = "linux-test";
/// Everything a test waits for, boot included.
const TEST_DEADLINE: Duration = Duration::from_secs(150);

/// Why a test cannot run here, or `None` when it can.
fn unavailable() -> Option<String> {
    let image = Path::new(IMAGES).join(LABEL);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let why = if !image.join("initramfs.cpio.gz").is_file() {
        format!("the test image {} is not built (images/build-test-image.sh)", image.display())
    } else if !root {
        "the VM tests need root for their network namespaces".to_owned()
    } else {
        return None;
    };
    if std::env::var_os("SOLSTICE_REQUIRE_VM").is_some() {
        panic!("SOLSTICE_REQUIRE_VM is set but {why}");
    }
    eprintln!("\n!!!!! SKIPPED: {why}; set SOLSTICE_REQUIRE_VM=1 to make this a failure !!!!!\n");
    Some(why)
}

/// Runs `test` on a fresh thread inside a network namespace made for it, on a current-thread
/// runtime so every child process is spawned from that thread.
fn in_test_netns<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if unavailable().is_some() {
        return;
    }
    let thread = std::thread::spawn(move || {
        // SAFETY: unshare affects only this thread (and what it spawns), which ends with the test.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            panic!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
        }
        let script = "link set lo up\n\
                      tuntap add dev testtap0 mode tap\n\
                      addr add 192.0.2.1/24 dev testtap0\n\
                      link set testtap0 up\n\
                      route add default via 192.0.2.254 dev testtap0 onlink\n";
        let mut ip = std::process::Command::new("ip")
            .args(["-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("ip (iproute2) is installed");
        std::io::Write::write_all(&mut ip.stdin.take().unwrap(), script.as_bytes()).unwrap();
        assert!(ip.wait().unwrap().success(), "setting up the test's network namespace failed");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(test());
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// A test's own state dir, images dir and agent dir.
struct Setup {
    state: tempfile::TempDir,
    images: tempfile::TempDir,
    _agents: Option<tempfile::TempDir>,
    config: QemuExecutorConfig,
    started: SystemTime,
}

impl Setup {
    fn new() -> Setup {
        let started = SystemTime::now();
        let state = tempfile::tempdir().unwrap();
        // passt drops to `nobody` and must reach its socket below here.
        std::fs::set_permissions(state.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
        let images = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(Path::new(IMAGES).join(LABEL), images.path().join(LABEL)).unwrap();
        let mut config = QemuExecutorConfig::new(state.path().to_owned(), Catalog::builtin().unwrap());
        config.images_dir = images.path().to_owned();
        config.accel = AccelChoice::Tcg;
        config.network = NetworkMode::PerVm(Uplink::Blackhole);
        config.job_time_grace = Duration::from_secs(30);
        let agents = match std::env::var_os("SOLSTICE_AGENT_DIR") {
            Some(dir) => {
                config.agent_dir = Some(dir.into());
                None
            }
            None => {
                let agents = tempfile::tempdir().unwrap();
                let dir = agents.path().join(orchestrator::HOST_TARGET);
                std::fs::create_dir(&dir).unwrap();
                std::os::unix::fs::symlink(built_agent(), dir.join("workflow-runner")).unwrap();
                config.agent_dir = Some(agents.path().to_owned());
                Some(agents)
            }
        };
        Setup { state, images, _agents: agents, config, started }
    }

    fn executor(&self) -> QemuExecutor {
        QemuExecutor::new(self.config.clone()).unwrap()
    }

    /// Waits for everything the executor must clean up to be gone: VM dirs, processes, the
    /// job's key files; `public` is the key the guest got, when the test knows it.
    async fn assert_nothing_left(&self, request: &JobRequest, public: Option<&str>) {
        let name = format!("{}-{}", request.job_id, request.attempt);
        let job = leftovers::JobKeys { name: &name, public };
        leftovers::wait_until_gone(self.state.path(), &self.config.run_dir(), self.started, &job).await;
    }
}

/// `workflow-runner` in the target directory this test binary was built into.
fn built_agent() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let agent = profile_dir.join("workflow-runner");
    assert!(
        agent.is_file(),
        "no agent at {}: build it first with `cargo build -p workflow-runner` (or set SOLSTICE_AGENT_DIR)",
        agent.display()
    );
    agent
}

fn request(label: &str, scripts: &[&str]) -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: "runner-1".into(), forge_ref: serde_json::Value::Null };
    let mut request = JobRequest::new(Ulid::new(), origin, label, "build");
    request.timeout_minutes = Some(Template::literal(2));
    request.steps = scripts
        .iter()
        .enumerate()
        .map(|(index, script)| StepCommand::run(index as u32, format!("step{index}"), Template::literal(*script)))
        .collect();
    request
}

async fn start(executor: &QemuExecutor, request: JobRequest) -> JobHandle {
    start_with_key(executor, request, &contract::BusKey::generate().unwrap()).await
}

async fn start_with_key(executor: &QemuExecutor, request: JobRequest, key: &contract::BusKey) -> JobHandle {
    executor.start(JobStart { request, bus_key: key.to_base64() }).await.unwrap()
}

/// Every output up to and including `Exited`.
async fn collect(handle: &mut JobHandle) -> Vec<AgentOutput> {
    let deadline = Instant::now() + TEST_DEADLINE;
    let mut outputs = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, handle.next()).await {
            Ok(Some(output)) => {
                let last = matches!(output, AgentOutput::Exited { .. });
                outputs.push(output);
                if last {
                    return outputs;
                }
            }
            Ok(None) => panic!("the handle ended without Exited: {outputs:#?}"),
            Err(_) => panic!("no Exited within {} s: {outputs:#?}", TEST_DEADLINE.as_secs()),
        }
    }
}

/// Outputs until `until` matches one (returned last).
async fn collect_until(handle: &mut JobHandle, until: impl Fn(&AgentOutput) -> bool) -> Vec<AgentOutput> {
    let deadline = Instant::now() + TEST_DEADLINE;
    let mut outputs = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, handle.next()).await {
            Ok(Some(output)) => {
                let done = until(&output);
                outputs.push(output);
                if done {
                    return outputs;
                }
            }
            Ok(None) => panic!("the handle ended early: {outputs:#?}"),
            Err(_) => panic!("the awaited output did not come within {} s: {outputs:#?}", TEST_DEADLINE.as_secs()),
        }
    }
}

fn events(outputs: &[AgentOutput]) -> Vec<&Event> {
    outputs
        .iter()
        .filter_map(|output| match output {
            AgentOutput::Event(event) => Some(&event.event),
            _ => None,
        })
        .collect()
}

/// The log lines of step `index` after its `##[group]Run …` header.
fn step_log(outputs: &[AgentOutput], index: u32) -> Vec<String> {
    let lines: Vec<String> = events(outputs)
        .into_iter()
        .filter_map(|event| match event {
            Event::Log { section: contract::Section::Step(i), lines, .. } if *i == index => Some(lines.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    match lines.iter().position(|line| line == "##[endgroup]") {
        Some(end) => lines[end + 1..].to_vec(),
        None => lines,
    }
}

/// The `job_finished` result and error; there must be exactly one.
fn finished(outputs: &[AgentOutput]) -> (JobResult, Option<String>) {
    let finished: Vec<_> = events(outputs)
        .into_iter()
        .filter_map(|event| match event {
            Event::JobFinished { result, error, .. } => Some((*result, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "exactly one job_finished: {outputs:#?}");
    finished.into_iter().next().unwrap()
}

fn exited(outputs: &[AgentOutput]) -> (String, bool) {
    match outputs.last() {
        Some(AgentOutput::Exited { status, success, .. }) => (status.clone(), *success),
        other => panic!("Exited must be last, got {other:?}"),
    }
}

fn cancel(reason: &str) -> ControlMessage {
    ControlMessage::Cancel { reason: reason.to_owned() }
}
