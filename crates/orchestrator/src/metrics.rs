//! What the orchestrator counts for `/metrics` (issue 6 §4): jobs by result, running jobs and
//! VMs, per-phase latencies, bus errors. Every event of a job passes the [`Sequencer`], so one
//! [`JobClock`] there sees all of them.
//!
//! [`Sequencer`]: crate::sequencer::Sequencer

use std::time::{Duration, SystemTime};

use contract::Event;
use telemetry::{Gauge, Histogram, LATENCY_BUCKETS, Registry};
use tokio::time::Instant;
use ulid::Ulid;

const PHASE_HELP: &str = "Seconds per phase of a job: pickup (request created to accepted), vm_ready (VM booting to \
                          ready), first_line (accepted to the first log line), finish (last log line to the final \
                          status).";

/// One job attempt's timings; gauges it raised are lowered when it is dropped.
pub(crate) struct JobClock {
    registry: Registry,
    accepted: Instant,
    vm_booting: Option<Instant>,
    last_line: Option<Instant>,
    first_line_seen: bool,
    running: Gauge,
    vms: Gauge,
    vm_counted: bool,
    finished: bool,
}

impl JobClock {
    /// Starts the clock at acceptance; the pickup phase runs from the request's creation, which
    /// the job id's ULID timestamp records (the runner made it when it built the request).
    pub fn accepted(registry: &Registry, job_id: Ulid) -> JobClock {
        let created = SystemTime::UNIX_EPOCH + Duration::from_millis(job_id.timestamp_ms());
        if let Ok(waited) = SystemTime::now().duration_since(created) {
            phase(registry, "pickup").observe_duration(waited);
        }
        let running = registry.gauge("solstice_jobs_running", "Jobs this orchestrator runs now.", &[]);
        running.add(1);
        JobClock {
            registry: registry.clone(),
            accepted: Instant::now(),
            vm_booting: None,
            last_line: None,
            first_line_seen: false,
            running,
            vms: registry.gauge("solstice_running_vms", "VMs (or local agents) running now.", &[]),
            vm_counted: false,
            finished: false,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn observe(&mut self, event: &Event) {
        let now = Instant::now();
        match event {
            Event::VmBooting { .. } => {
                self.vm_booting = Some(now);
                if !self.vm_counted {
                    self.vms.add(1);
                    self.vm_counted = true;
                }
            }
            Event::VmReady { .. } => {
                if let Some(booting) = self.vm_booting.take() {
                    phase(&self.registry, "vm_ready").observe_duration(now - booting);
                }
            }
            Event::Log { .. } => {
                if !self.first_line_seen {
                    self.first_line_seen = true;
                    phase(&self.registry, "first_line").observe_duration(now - self.accepted);
                }
                self.last_line = Some(now);
            }
            Event::JobFinished { result, .. } => {
                if let Some(last) = self.last_line {
                    phase(&self.registry, "finish").observe_duration(now - last);
                }
                self.registry
                    .counter("solstice_jobs_total", "Jobs ended, by result.", &[("result", result.as_str())])
                    .inc();
                self.release();
            }
            _ => {}
        }
    }

    fn release(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.running.add(-1);
        if self.vm_counted {
            self.vms.add(-1);
        }
    }
}

impl Drop for JobClock {
    fn drop(&mut self) {
        self.release();
    }
}

fn phase(registry: &Registry, name: &str) -> Histogram {
    registry.histogram("solstice_phase_seconds", PHASE_HELP, &[("phase", name)], LATENCY_BUCKETS)
}

/// Counts a failed publish of an event or slot advert.
pub(crate) fn bus_error(registry: &Registry) {
    registry.counter("solstice_bus_errors_total", "Bus operations that failed after retries.", &[]).inc();
}
