//! The two figures, printed (run with `--nocapture`): guest line → row visible in its
//! step's range, and task received → VM spawned.
//!
//! **Clocks.** A log row's time is the agent's, stamped in the guest when it read the line; the
//! guest's clock comes from the emulated RTC at boot (whole seconds) and drifts under TCG, so it
//! is not compared with the host's as it is. The offset is estimated as the smallest
//! (arrival − stamp) over all lines, which makes the fastest line's latency zero: the figures are
//! latency above that floor (one pass through SSH, the bus and HTTP with nothing queued), a
//! lower bound by that floor. Arrival is the host's clock when the test, woken by the fake's
//! change notification, first sees the row in the step's range. "VM spawned" is the time of the
//! `vm booting` row, which the orchestrator stamps on the host, against the task's start in
//! the fake (when FetchTask handed it out): both host clocks.

use std::collections::BTreeMap;

use fake_forgejo::{SET_UP_JOB, Status};
use time::OffsetDateTime;

use crate::harness::{DEADLINE, LABEL, System, job};

const LINES: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_of_guest_lines_to_rows_and_of_task_to_vm() {
    let Some(system) = System::start().await else { return };
    let payload = format!(
        "jobs:\n  build:\n    runs-on: {LABEL}\n    steps:\n\
         \x20     - name: ticks\n        run: |\n          for i in $(seq 1 {LINES}); do echo tick-$i; sleep 0.03; done\n"
    );
    let job = system.fake.add_job(job(&payload, &["ticks"]));

    // tick number → when the test first saw its row inside the step's range.
    let mut arrivals: BTreeMap<usize, OffsetDateTime> = BTreeMap::new();
    let seen = system
        .fake
        .wait_for(DEADLINE, |snapshot| {
            let view = snapshot.view(job)?;
            let now = OffsetDateTime::now_utc();
            for row in view.step("ticks").map(|step| step.rows.as_slice()).unwrap_or_default() {
                if let Some(tick) = row.trim().strip_prefix("tick-").and_then(|n| n.parse().ok()) {
                    arrivals.entry(tick).or_insert(now);
                }
            }
            view.status.is_final().then_some(view)
        })
        .await;
    let view = seen.unwrap_or_else(|error| panic!("{error}: {:#?}\n{}", system.fake.view(job), system.logs()));
    let logs = system.logs();
    assert_eq!(view.status, Status::Success, "{view:#?}\n{logs}");
    assert_eq!(arrivals.len(), LINES, "every tick shows once in its step: {view:#?}");

    // The guest's stamp of each tick, from the stored rows.
    let stamps: BTreeMap<usize, OffsetDateTime> = system
        .fake
        .rows(job)
        .iter()
        .filter_map(|row| Some((row.content.trim().strip_prefix("tick-")?.parse().ok()?, row.time?)))
        .collect();
    let raw: Vec<f64> = arrivals
        .iter()
        .filter_map(|(tick, arrived)| Some((*arrived - *stamps.get(tick)?).as_seconds_f64() * 1000.0))
        .collect();
    assert_eq!(raw.len(), LINES, "every tick row carries a time");
    let floor = raw.iter().copied().fold(f64::INFINITY, f64::min);
    let mut above: Vec<f64> = raw.iter().map(|ms| ms - floor).collect();
    above.sort_by(f64::total_cmp);

    let booting = view
        .step(SET_UP_JOB)
        .and_then(|_| system.fake.rows(job).into_iter().find(|row| row.content.contains("vm booting")))
        .unwrap_or_else(|| panic!("no `vm booting` row: {view:#?}"));
    let started = view.started.expect("a picked task has a start");
    let spawn_ms = (booting.time.expect("the row has a time") - started).as_seconds_f64() * 1000.0;

    println!(
        "FORGEJO LATENCY guest line -> visible row ({LINES} lines, above the fastest line's floor): \
         p25 {:.0} ms, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; guest clock offset + floor {floor:.0} ms",
        percentile(&above, 0.25),
        percentile(&above, 0.50),
        percentile(&above, 0.95),
        above.last().copied().unwrap_or_default(),
    );
    println!("FORGEJO LATENCY task received -> VM spawned (vm_booting): {spawn_ms:.0} ms");
    assert!(spawn_ms >= 0.0, "the VM booted before the task was handed out: {spawn_ms} ms");
}

/// The value below which `fraction` of the sorted `values` lie (nearest rank).
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
