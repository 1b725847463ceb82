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
mod dns;
mod isolation;
mod jobs;
mod leftovers;
mod through_orchestrator;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime};

use contract::{ControlMessage, Event, ForgeKind, JobRequest, JobResult, Origin, StepCommand, Template};
use orchestrator::{AgentOutput, Executor, JobHandle, JobStart};
use tokio::time::Instant;
use ulid::Ulid;
use vm::{AccelChoice, Catalog, NetworkMode, QemuExecutor, QemuExecutorConfig, Uplink};

use testkit::vm::{AgentDir, IMAGES, LABEL};
/// Everything a test waits for, boot included.
const TEST_DEADLINE: Duration = Duration::from_secs(150);

/// Runs `test` inside a network namespace made for it (`testkit::netns::run_in_fresh`), unless
/// VM tests cannot run here (`testkit::vm::unavailable`).
fn in_test_netns<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if testkit::vm::unavailable().is_some() {
        return;
    }
    testkit::netns::run_in_fresh(test);
}

/// A test's own state dir, images dir and agent dir.
struct Setup {
    state: tempfile::TempDir,
    images: tempfile::TempDir,
    _agents: AgentDir,
    config: QemuExecutorConfig,
    started: SystemTime,
}

impl Setup {
    fn new() -> Setup {
        let started = SystemTime::now();
        let state = testkit::vm::state_dir();
        let images = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(Path::new(IMAGES).join(LABEL), images.path().join(LABEL)).unwrap();
        let mut config = QemuExecutorConfig::new(state.path().to_owned(), Catalog::builtin().unwrap());
        config.images_dir = images.path().to_owned();
        config.accel = AccelChoice::Tcg;
        config.network = NetworkMode::PerVm(Uplink::Blackhole);
        config.job_time_grace = Duration::from_secs(30);
        let agents = AgentDir::locate(orchestrator::HOST_TARGET);
        config.agent_dir = Some(agents.path.clone());
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
