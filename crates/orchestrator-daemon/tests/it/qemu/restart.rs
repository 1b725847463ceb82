//! The daemon killed with SIGKILL mid-job: its VM dies with it, and when it starts again the
//! attempt is failed with a clear message and whatever the VM left in the state dir is removed.

use std::time::Duration;

use contract::{Event, JobResult};
use tokio::time::Instant;

use super::{setup, step_lines};
use crate::jobs::publish;
use crate::support::host::{processes_naming, state_files, wait_until_clean};
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
    // PR_SET_PDEATHSIG: QEMU and passt die with the daemon, before anything restarts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_naming(state).is_empty() {
        assert!(Instant::now() < deadline, "outlived the daemon: {:#?}", processes_naming(state));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!state_files(state).is_empty(), "the killed daemon left its VM's directory");

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
