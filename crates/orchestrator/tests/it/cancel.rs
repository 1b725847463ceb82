use bus::{Bus, Consumer, InProcessBus};
use contract::{CancelRequest, Event, JobResult};

use crate::{LABEL, RUNNER, check_sequence, local, published, request};

#[tokio::test]
async fn a_cancel_reaches_the_running_agent() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let orchestrator = local(&bus, "cancellable.sh", &work, None).await;
    let serving = orchestrator.serve(&[LABEL.to_owned()], 1).await.unwrap();
    let job = request();
    bus.publish_job(&job).await.unwrap();

    let mut seen = Vec::new();
    loop {
        let delivery = events.next().await.unwrap();
        delivery.acker.ack().await.unwrap();
        let event = delivery.payload;
        let started = matches!(event.event, Event::StepStarted { .. });
        let done = matches!(event.event, Event::JobFinished { .. });
        seen.push(event);
        if started {
            let cancel = CancelRequest { job_id: job.job_id, attempt: None, reason: "test cancels".into() };
            bus.publish_cancel(&cancel).await.unwrap();
        }
        if done {
            break;
        }
    }
    serving.stop().await;
    seen.extend(published(&mut events).await);
    let (result, _) = check_sequence(&seen);
    assert_eq!(result, JobResult::Cancelled);
}

#[tokio::test]
async fn a_job_cancelled_while_queued_never_starts() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    // The agent would fail the test by hanging: it runs until cancelled.
    let orchestrator = local(&bus, "cancellable.sh", &work, None).await;
    let job = request();
    bus.publish_cancel(&CancelRequest { job_id: job.job_id, attempt: Some(1), reason: "fail-fast".into() })
        .await
        .unwrap();
    while !orchestrator.is_tombstoned(job.job_id) {
        tokio::task::yield_now().await;
    }

    assert_eq!(orchestrator.run_job(job).await, JobResult::Cancelled);
    let events = published(&mut events).await;
    let (result, error) = check_sequence(&events);
    assert_eq!(result, JobResult::Cancelled);
    assert_eq!(error.as_deref(), Some("cancelled before it started: fail-fast"));
    assert_eq!(events.len(), 2, "accepted and job_finished only: {events:#?}");
}
