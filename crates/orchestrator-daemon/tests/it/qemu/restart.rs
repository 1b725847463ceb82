//! The daemon gone mid-job, killed with SIGKILL or exiting because its database went away and
//! its lease could not be renewed: its VM dies with it, and when it starts again the attempt is
//! failed with a clear message and whatever the VM left in the state dir is removed.

use std::time::Duration;

use contract::{Event, JobResult};

use super::{setup, step_lines};
use crate::jobs::publish;
use crate::lease::lease_expiry;
use testkit::leftovers::{processes_naming, wait_until_no_process_names};

use crate::support::host::{state_files, wait_until_clean};
use crate::support::qemu::{LABEL, VM_DEADLINE, request};
use crate::support::runner::{self, Events};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_job_takes_its_vm_along_and_fails_the_attempt_when_it_restarts() {
    let Some((vhost, _db, host)) = setup("").await else { return };
    let state = host.state.path();
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut first = host.spawn();
    let job = request(LABEL, &["echo begun; sleep 600"]);
    publish(&bus, &job).await;
    let begun = |jobs: &std::collections::HashMap<ulid::Ulid, Vec<contract::JobEvent>>| {
        jobs.get(&job.job_id).is_some_and(|seen| step_lines(seen, 0).iter().any(|line| line == "begun"))
    };
    events.until_within("the step's first line", VM_DEADLINE, begun).await;
    assert!(processes_naming(state).len() >= 2, "QEMU and passt run: {:#?}", processes_naming(state));

    first.kill_9();
    vm_died_with_the_daemon(state).await;

    let mut second = host.spawn();
    let (result, error) = events.finished_within(job.job_id, VM_DEADLINE).await;
    assert_eq!(result, JobResult::Failure, "{}", second.log());
    assert_eq!(error.as_deref(), Some(orchestrator::RESTARTED));
    let seen = &events.by_job[&job.job_id];
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seen.len() as u64).collect::<Vec<_>>(), "seq continues after the restart: {seen:#?}");
    assert_eq!(seen.iter().filter(|e| matches!(e.event, Event::Accepted { .. })).count(), 1, "never re-run");

    wait_until_clean(Some(second.pid()), state).await;
    assert!(second.terminate(runner::DEADLINE).await.success(), "{}", second.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_loses_its_database_mid_job_exits_3_and_takes_its_vm_along_before_the_lease_expires() {
    let Some((vhost, db, mut host)) = setup("").await else { return };
    let config = "lease_ttl_secs = 6\n";
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut first = host.spawn_with(config);
    let job = request(LABEL, &["echo begun; sleep 600"]);
    publish(&bus, &job).await;
    let begun = |jobs: &std::collections::HashMap<ulid::Ulid, Vec<contract::JobEvent>>| {
        jobs.get(&job.job_id).is_some_and(|seen| step_lines(seen, 0).iter().any(|line| line == "begun"))
    };
    events.until_within("the step's first line", VM_DEADLINE, begun).await;

    host.cut_database();
    let status = first.exit_within(Duration::from_secs(12)).await;
    assert_eq!(status.code(), Some(3), "{}", first.log());
    assert!(first.log().contains("failed to keep the orchestrator's lease"), "{}", first.log());
    let state = host.state.path().to_owned();
    vm_died_with_the_daemon(&state).await;
    let gone = time::OffsetDateTime::now_utc();
    let expires = lease_expiry(&db, &state).await;
    eprintln!("the daemon and its VM were gone {:?} before the lease expired", expires - gone);
    assert!(gone < expires, "gone at {gone}, after the lease expired at {expires}");

    host.restore_database(&db);
    let mut second = host.spawn_with(config);
    let (result, error) = events.finished_within(job.job_id, VM_DEADLINE).await;
    assert_eq!(result, JobResult::Failure, "{}", second.log());
    assert_eq!(error.as_deref(), Some(orchestrator::RESTARTED));
    wait_until_clean(Some(second.pid()), &state).await;
    assert!(second.terminate(runner::DEADLINE).await.success(), "{}", second.log());
}

/// QEMU and passt die with the daemon (PR_SET_PDEATHSIG), before anything restarts; the VM's
/// directory stays for the next start to remove.
async fn vm_died_with_the_daemon(state: &std::path::Path) {
    if let Err(left) = wait_until_no_process_names(state, Duration::from_secs(10)).await {
        panic!("outlived the daemon: {left:#?}");
    }
    assert!(!state_files(state).is_empty(), "the daemon left its VM's directory");
}
