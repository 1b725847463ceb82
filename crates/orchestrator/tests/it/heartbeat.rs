use std::sync::Mutex;

use bus::{Bus, Consumer, InProcessBus};
use contract::{Event, JobResult};
use orchestrator::{AgentOutput, Executor, ExecutorError, JobHandle, JobStart, Orchestrator};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Duration, Instant};

use crate::{RUNNER, check_sequence, config, published, request};

/// An executor whose one agent is driven by the test.
struct Scripted {
    handle: Mutex<Option<JobHandle>>,
}

impl Executor for Scripted {
    async fn start(&self, _job: JobStart) -> Result<JobHandle, ExecutorError> {
        let handle = self.handle.lock().unwrap().take();
        Ok(handle.expect("the scripted executor starts one job"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_job_gets_a_heartbeat_at_least_every_15_seconds() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let (outputs, outputs_rx) = mpsc::channel(8);
    let (control_tx, _control) = mpsc::channel(8);
    let (kill_tx, _kill) = oneshot::channel();
    let executor = Scripted { handle: Mutex::new(Some(JobHandle::new(outputs_rx, control_tx, kill_tx))) };
    let orchestrator = Orchestrator::start(bus.clone(), executor, config()).await.unwrap();
    let job = tokio::spawn(async move { orchestrator.run_job(request()).await });

    let mut seen = Vec::new();
    let mut last = Instant::now();
    let mut beats = 0;
    while beats < 4 {
        let delivery = events.next().await.unwrap();
        delivery.acker.ack().await.unwrap();
        if matches!(delivery.payload.event, Event::Heartbeat) {
            beats += 1;
            assert!(last.elapsed() <= Duration::from_secs(15), "{:?} without a heartbeat", last.elapsed());
            last = Instant::now();
        }
        seen.push(delivery.payload);
    }

    outputs
        .send(AgentOutput::Exited { status: "exit code 0".into(), success: true, stderr_tail: vec![] })
        .await
        .unwrap();
    assert_eq!(job.await.unwrap(), JobResult::Failure);
    seen.extend(published(&mut events).await);
    let (_, error) = check_sequence(&seen);
    assert_eq!(error.as_deref(), Some("the agent exited (exit code 0) before the job finished"));
}
