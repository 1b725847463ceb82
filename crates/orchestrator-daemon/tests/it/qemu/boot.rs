//! A guest that never boots: one retry on a fresh overlay, then a failure carrying the serial
//! console's tail.

use contract::{Event, JobResult};

use super::{kinds, setup};
use crate::jobs::publish;
use crate::support::host::wait_until_clean;
use crate::support::qemu::{PANIC_LABEL, VM_DEADLINE, request};
use crate::support::runner::{self, Events, check_sequence};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_never_boots_is_retried_once_then_fails_with_the_serial_tail() {
    let Some((vhost, _db, host)) = setup("").await else { return };
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut daemon = host.spawn();
    let job = request(PANIC_LABEL, &["echo never"]);
    publish(&bus, &job).await;

    let (result, error) = events.finished_within(job.job_id, VM_DEADLINE).await;
    assert_eq!(result, JobResult::Failure, "{}", daemon.log());
    let error = error.unwrap_or_default();
    assert!(error.starts_with("the VM did not boot (2 tries): QEMU exited during boot"), "{error}");
    assert!(error.contains("\nlast lines of the serial console:\n"), "{error}");
    assert!(error.contains("Kernel panic"), "{error}");
    let seen = &events.by_job[&job.job_id];
    check_sequence(seen);
    let kinds = kinds(seen);
    assert!(
        matches!(kinds[..], [Event::Accepted { .. }, Event::VmBooting { .. }, Event::JobFinished { .. }]),
        "no vm_ready, no step: {kinds:#?}"
    );

    wait_until_clean(Some(daemon.pid()), host.state.path()).await;
    assert!(daemon.terminate(runner::DEADLINE).await.success(), "{}", daemon.log());
}
