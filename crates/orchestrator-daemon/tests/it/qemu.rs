//! Real jobs in real VMs: the `orchestrator` binary with the qemu executor, over the real
//! RabbitMQ and PostgreSQL, booting `linux-test` under TCG (see `support/qemu.rs` for the
//! network namespace each test makes, the skips and where the agent comes from). Each test
//! asserts what the runner sees on the bus and that nothing of the job is left on the host: no
//! QEMU, passt or ssh below the daemon, no process naming the state dir, no file in it.

mod boot;
mod isolation;
mod jobs;
mod restart;

use contract::{Event, JobEvent, Section};

use testkit::postgres::TestDatabase;
use testkit::vm::unavailable;

use crate::support::qemu::VmHost;
use testkit::rabbitmq::TestVhost;

/// A vhost, a database and a host for the daemon, or `None` when VM tests cannot run here.
async fn setup(extra_ip: &str) -> Option<(TestVhost, TestDatabase, VmHost)> {
    if unavailable().is_some() {
        return None;
    }
    let (vhost, db) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await);
    let host = VmHost::new(&vhost, &db, extra_ip);
    Some((vhost, db, host))
}

/// The log lines of step `index`, in order.
fn step_lines(events: &[JobEvent], index: u32) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.event {
            Event::Log { section: Section::Step(i), lines, .. } if *i == index => Some(lines.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The events but heartbeats, which come whenever a job runs long enough.
fn kinds(events: &[JobEvent]) -> Vec<&Event> {
    events.iter().map(|e| &e.event).filter(|e| !matches!(e, Event::Heartbeat)).collect()
}
