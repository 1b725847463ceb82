//! What the forge runners count, named once so the Forgejo and GitHub runners count alike.
//! They count into [`crate::global`]: the runner code runs deep inside the forge crates, and
//! one process serves one `/metrics`.

use crate::{Gauge, global};

/// A job's end as the forge was told it (`success`, `failure`, `cancelled`, ...).
pub fn job_ended(forge: &str, result: &str) {
    global()
        .counter(
            "solstice_runner_jobs_total",
            "Jobs whose end the runner reported to the forge, by result.",
            &[("forge", forge), ("result", result)],
        )
        .inc();
}

/// A failed call to the forge (each retry counts).
pub fn forge_error(forge: &str, call: &str) {
    global()
        .counter(
            "solstice_forge_errors_total",
            "Calls to the forge that failed, by call; each retry counts.",
            &[("forge", forge), ("call", call)],
        )
        .inc();
}

/// A failed publish or consume on the bus, seen by a runner.
pub fn bus_error(forge: &str) {
    global()
        .counter(
            "solstice_runner_bus_errors_total",
            "Bus operations of a runner that failed; each retry counts.",
            &[("forge", forge)],
        )
        .inc();
}

/// Counts a running job until dropped.
pub struct Running(Gauge);

impl Running {
    pub fn start(forge: &str) -> Running {
        let gauge =
            global().gauge("solstice_runner_jobs_running", "Jobs this runner is running now.", &[("forge", forge)]);
        gauge.add(1);
        Running(gauge)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}
