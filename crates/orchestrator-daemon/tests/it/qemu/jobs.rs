//! A job that succeeds, one cancelled mid-step and one past its time limit (which GitHub, and so
//! the engine, reports as cancelled, with the time limit in the error).

use bus::Bus;
use contract::{CancelRequest, Event, JobResult, Outcome, Template};
use tokio::time::Instant;

use super::{kinds, setup, step_lines};
use crate::jobs::publish;
use crate::support::host::wait_until_clean;
use crate::support::qemu::{LABEL, VM_DEADLINE, request};
use crate::support::runner::{self, Events, check_sequence};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_in_a_vm_whose_hostname_is_the_job_id() {
    let Some((vhost, db, host)) = setup("").await else { return };
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut daemon = host.spawn();
    let job = request(LABEL, &["hostname"]);
    let started = Instant::now();
    publish(&bus, &job).await;

    let finished = events.finished_within(job.job_id, VM_DEADLINE).await;
    eprintln!("publish to job_finished: {:?}", started.elapsed());
    assert_eq!(finished, (JobResult::Success, None), "{}", daemon.log());
    let seen = &events.by_job[&job.job_id];
    check_sequence(seen);
    let kinds = kinds(seen);
    assert!(matches!(kinds[0], Event::Accepted { .. }), "{kinds:#?}");
    assert!(matches!(kinds[1], Event::VmBooting { label } if label == LABEL), "{kinds:#?}");
    assert!(matches!(kinds[2], Event::VmReady { label } if label == LABEL), "{kinds:#?}");
    let lines = step_lines(seen, 0);
    assert!(lines.contains(&job.job_id.to_string()), "the guest's hostname is the job id: {lines:#?}");

    wait_until_clean(Some(daemon.pid()), host.state.path()).await;
    let store = store::connect(&db.url).await.unwrap();
    let record = store.job(job.job_id).await.unwrap().expect("the job was recorded");
    assert_eq!(record.attempts[0].result, Some(JobResult::Success));
    store.close().await;
    assert!(daemon.terminate(runner::DEADLINE).await.success(), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_on_the_bus_mid_step_cancels_the_job_and_the_vm_goes() {
    let Some((vhost, _db, host)) = setup("").await else { return };
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut daemon = host.spawn();
    let job = request(LABEL, &["echo begun; sleep 600", "echo never"]);
    publish(&bus, &job).await;
    let begun = |jobs: &std::collections::HashMap<ulid::Ulid, Vec<contract::JobEvent>>| {
        jobs.get(&job.job_id).is_some_and(|seen| step_lines(seen, 0).iter().any(|line| line == "begun"))
    };
    events.until_within("the step's first line", VM_DEADLINE, begun).await;

    let cancelled = Instant::now();
    let cancel = CancelRequest { job_id: job.job_id, attempt: None, reason: "the user cancelled".into() };
    bus.publish_cancel(&cancel).await.unwrap();
    let (result, _) = events.finished_within(job.job_id, VM_DEADLINE).await;
    eprintln!("cancel to job_finished: {:?}", cancelled.elapsed());
    assert_eq!(result, JobResult::Cancelled, "{}", daemon.log());
    let seen = &events.by_job[&job.job_id];
    check_sequence(seen);
    let outcomes: Vec<(u32, Outcome)> = seen
        .iter()
        .filter_map(|e| match &e.event {
            Event::StepFinished { index, outcome, .. } => Some((*index, *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes[0], (0, Outcome::Cancelled), "{seen:#?}");
    assert!(!outcomes.contains(&(1, Outcome::Success)), "the step after the cancel never ran: {seen:#?}");

    wait_until_clean(Some(daemon.pid()), host.state.path()).await;
    assert!(daemon.terminate(runner::DEADLINE).await.success(), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_time_limit_is_cancelled_with_the_timeout_message_and_the_vm_goes() {
    let Some((vhost, _db, host)) = setup("").await else { return };
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut daemon = host.spawn();
    let mut job = request(LABEL, &["sleep 600"]);
    // Six seconds, counted from the agent's start in the guest.
    job.timeout_minutes = Some(Template::literal(0.1));
    publish(&bus, &job).await;

    let (result, error) = events.finished_within(job.job_id, VM_DEADLINE).await;
    assert_eq!(result, JobResult::Cancelled, "{}", daemon.log());
    let error = error.unwrap_or_default();
    assert!(error.contains("has exceeded the maximum execution time of 0.1 minutes"), "{error}");
    check_sequence(&events.by_job[&job.job_id]);

    wait_until_clean(Some(daemon.pid()), host.state.path()).await;
    assert!(daemon.terminate(runner::DEADLINE).await.success(), "{}", daemon.log());
}
