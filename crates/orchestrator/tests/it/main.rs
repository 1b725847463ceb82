//! The orchestrator with the local executor and fake agents (shell scripts in `fixtures/` that
//! print `AgentEvent` lines), plus a scripted executor for what needs paused time.

mod cancel;
mod checkout;
mod heartbeat;
mod local_agent;
mod timeout;

use std::path::PathBuf;
use std::time::Duration;

use bus::{Bus, Consumer, InProcessBus};
use contract::{BusKey, Event, ForgeKind, JobEvent, JobRequest, JobResult, Origin};
use orchestrator::{LocalExecutor, LocalExecutorConfig, Orchestrator, OrchestratorConfig, WorkspaceSource};
use ulid::Ulid;

const RUNNER: &str = "runner-1";
const LABEL: &str = "linux-test";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures").join(name)
}

fn request() -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: RUNNER.into(), forge_ref: serde_json::Value::Null };
    JobRequest::new(Ulid::new(), origin, LABEL, "build")
}

fn config() -> OrchestratorConfig {
    let key = BusKey::generate().expect("the test machine has a random source");
    OrchestratorConfig::new("orchestrator-test", key)
}

/// An orchestrator over `agent` (a fixture script), with its work dirs under `work_root`.
async fn local(
    bus: &InProcessBus,
    agent: &str,
    work_root: &tempfile::TempDir,
    workspace: Option<WorkspaceSource>,
) -> Orchestrator<InProcessBus, LocalExecutor> {
    let mut executor = LocalExecutorConfig::new(fixture(agent));
    executor.work_root = Some(work_root.path().to_owned());
    let config = OrchestratorConfig { workspace, ..config() };
    Orchestrator::start(bus.clone(), LocalExecutor::new(executor), config).await.unwrap()
}

/// Every event already published for the runner, without waiting for more.
async fn published(consumer: &mut <InProcessBus as Bus>::EventConsumer) -> Vec<JobEvent> {
    let mut events = Vec::new();
    while let Ok(Ok(delivery)) = tokio::time::timeout(Duration::ZERO, consumer.next()).await {
        delivery.acker.ack().await.unwrap();
        events.push(delivery.payload);
    }
    events
}

/// Checks the sequencing contract and returns the final `job_finished`'s result and error.
fn check_sequence(events: &[JobEvent]) -> (JobResult, Option<String>) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected, "seq must run 1..n without gaps: {events:#?}");
    assert!(matches!(events.first().map(|e| &e.event), Some(Event::Accepted { .. })), "{events:#?}");
    let finished: Vec<_> = events.iter().filter(|e| matches!(e.event, Event::JobFinished { .. })).collect();
    assert_eq!(finished.len(), 1, "exactly one job_finished: {events:#?}");
    match &events.last().map(|e| &e.event) {
        Some(Event::JobFinished { result, error, .. }) => (*result, error.clone()),
        other => panic!("job_finished must be last, got {other:?}"),
    }
}

fn is_empty_dir(dir: &tempfile::TempDir) -> bool {
    std::fs::read_dir(dir.path()).map(|mut entries| entries.next().is_none()).unwrap_or(false)
}
