use std::time::Duration;

use bus::{Bus, InProcessBus};
use contract::{JobResult, Template};
use orchestrator::{LocalExecutor, LocalExecutorConfig, Orchestrator, OrchestratorConfig};

use crate::{RUNNER, check_sequence, config, fixture, published, request};

#[tokio::test]
async fn a_job_past_its_time_limit_is_killed_and_fails_saying_so() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut executor = LocalExecutorConfig::new(fixture("cancellable.sh"));
    executor.work_root = Some(work.path().to_owned());
    // The agent never ends the job itself (it waits for a cancel), so only the orchestrator's
    // own limit can: 0.005 minutes is 0.3 s.
    let config = OrchestratorConfig { job_time_grace: Duration::ZERO, ..config() };
    let orchestrator = Orchestrator::start(bus.clone(), LocalExecutor::new(executor), config).await.unwrap();
    let mut job = request();
    job.timeout_minutes = Some(Template::literal(0.005));

    assert_eq!(orchestrator.run_job(job).await, JobResult::Failure);
    let (_, error) = check_sequence(&published(&mut events).await);
    let error = error.unwrap_or_default();
    assert!(error.starts_with("the job exceeded its time limit of 0.3 s"), "{error}");
}
