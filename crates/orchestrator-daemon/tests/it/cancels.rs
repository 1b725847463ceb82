//! Cancels: recorded as tombstones in the store before they are acked.

use bus::Bus;
use contract::{CancelRequest, JobResult};

use crate::jobs::publish;
use crate::support::daemon::{Dirs, InProcess, settings};
use crate::support::runner::{self, Events, check_sequence, request};
use testkit::postgres::TestDatabase;
use testkit::rabbitmq::TestVhost;

#[tokio::test]
async fn a_queued_job_cancelled_never_starts_and_a_running_one_ends_cancelled() {
    let (vhost, db, dirs) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await, Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut config = settings(&vhost.url(), &db.url, dirs.state.path(), dirs.agents.path());
    config.capacity = 1;
    let daemon = InProcess::start(config);

    // The only slot is taken by a job that runs until cancelled; the second one waits.
    let running = request("wait");
    publish(&bus, &running).await;
    events.step_started(running.job_id).await;
    let queued = request("wait");
    publish(&bus, &queued).await;
    let cancel = |job: &contract::JobRequest, reason: &str| CancelRequest {
        job_id: job.job_id,
        attempt: None,
        reason: reason.into(),
    };
    bus.publish_cancel(&cancel(&queued, "fail-fast")).await.unwrap();
    // Its tombstone is in the store before the running job is cancelled and frees the slot.
    let store = store::connect(&db.url).await.unwrap();
    let deadline = tokio::time::Instant::now() + runner::DEADLINE;
    while store.tombstone(queued.job_id, 1).await.unwrap().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no tombstone for the queued job");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    bus.publish_cancel(&cancel(&running, "the user cancelled")).await.unwrap();

    assert_eq!(events.finished(running.job_id).await.0, JobResult::Cancelled);
    let (result, error) = events.finished(queued.job_id).await;
    assert_eq!(result, JobResult::Cancelled);
    assert_eq!(error.as_deref(), Some("cancelled before it started: fail-fast"));
    let queued_events = &events.by_job[&queued.job_id];
    check_sequence(queued_events);
    assert_eq!(queued_events.len(), 2, "accepted and job_finished only: {queued_events:#?}");
    check_sequence(&events.by_job[&running.job_id]);
    let record = store.job(queued.job_id).await.unwrap().unwrap();
    assert_eq!(record.attempts[0].started_at, None, "the cancelled job never started");
    store.close().await;
    daemon.stop().await.unwrap();
}
