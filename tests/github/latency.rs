//! The two figures, printed with a `GITHUB LATENCY` prefix (run with `--nocapture`):
//! job message → VM spawned, and guest line → live console line. Measured, not asserted.
//!
//! **Clocks.** "VM spawned": from the moment the test sees the job acquired (host clock) to the
//! moment it sees the report's VM-booting line on the live console of "Set up job" (host clock;
//! the live console flushes within 100 ms, so this is an upper bound by that much). "Guest line →
//! live line": each line carries the guest's uptime when printed; the guest clock runs apart
//! from the host's (and drifts under TCG), so the offset is estimated as the smallest (arrival −
//! stamp) over all lines, and the figures are latency above that floor (as the Forgejo suite
//! measures its rows).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::harness::{DEADLINE, System, job};

const LINES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_of_message_to_vm_and_of_guest_lines_to_live_lines() {
    let Some(system) = System::start().await else { return };
    // The guest's uptime is its clock: only differences between lines matter (see above).
    let script =
        format!("for i in $(seq 1 {LINES}); do echo \"tick-$i $(cut -d' ' -f1 /proc/uptime)\"; sleep 0.03; done");
    let id = system.fake.queue(job(&[("ticks", &script)]));

    let mut acquired: Option<OffsetDateTime> = None;
    let mut booting: Option<OffsetDateTime> = None;
    // tick number → (guest stamp in seconds, when the test first saw it live).
    let mut arrivals: BTreeMap<usize, (f64, OffsetDateTime)> = BTreeMap::new();
    let done = system
        .fake
        .wait_for(DEADLINE, |fake| {
            let now = OffsetDateTime::now_utc();
            if acquired.is_none() && matches!(fake.job_phase(&id), Some(fake_github::JobPhase::Acquired { .. })) {
                acquired = Some(now);
            }
            let view = fake.view(&id)?;
            for step in &view.steps {
                if booting.is_none() && step.live.iter().any(|line| line.to_lowercase().contains("booting")) {
                    booting = Some(now);
                }
                for line in &step.live {
                    let mut words = line.split_whitespace();
                    let tick = words.next().and_then(|word| word.strip_prefix("tick-")).and_then(|n| n.parse().ok());
                    let stamp = words.next().and_then(|word| word.parse::<f64>().ok());
                    if let (Some(tick), Some(stamp)) = (tick, stamp) {
                        arrivals.entry(tick).or_insert((stamp, now));
                    }
                }
            }
            fake.completion(&id)
        })
        .await;
    let completion = done.unwrap_or_else(|| panic!("not completed: {:#?}\n{}", system.fake.view(&id), system.logs()));
    assert_eq!(completion["conclusion"], "succeeded", "{completion:#}\n{}", system.logs());

    match (acquired, booting) {
        (Some(acquired), Some(booting)) => {
            let ms = (booting - acquired).as_seconds_f64() * 1000.0;
            eprintln!("GITHUB LATENCY job message (acquired) -> VM spawned (VM booting line, live): {ms:.0} ms");
        }
        _ => eprintln!("GITHUB LATENCY job message -> VM spawned: not measured (no VM booting line seen live)"),
    }
    let raw: Vec<f64> = arrivals
        .values()
        .map(|(stamp, arrived)| (arrived.unix_timestamp_nanos() as f64 / 1e9 - stamp) * 1000.0)
        .collect();
    if raw.is_empty() {
        let view = system.fake.view(&id);
        let sample: Vec<String> =
            view.iter().flat_map(|view| view.steps.iter().flat_map(|step| step.live.iter().take(3).cloned())).collect();
        eprintln!("GITHUB LATENCY guest line -> live line: not measured (no tick seen live; live lines: {sample:?})");
        return;
    }
    let floor = raw.iter().copied().fold(f64::INFINITY, f64::min);
    let mut above: Vec<f64> = raw.iter().map(|ms| ms - floor).collect();
    above.sort_by(f64::total_cmp);
    eprintln!(
        "GITHUB LATENCY guest line -> live line ({} of {LINES} lines seen live, above the fastest line's floor): \
         p25 {:.0} ms, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; guest clock offset + floor {floor:.0} ms",
        above.len(),
        percentile(&above, 0.25),
        percentile(&above, 0.50),
        percentile(&above, 0.95),
        above.last().copied().unwrap_or_default(),
    );
}

/// The value below which `fraction` of the sorted `values` lie (nearest rank).
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
