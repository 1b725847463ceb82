use bus::Bus;
use contract::{Event, JobEvent, Timestamp};
use ulid::Ulid;

/// Stamps one job attempt's events with `seq` = 1, 2, 3… and publishes them to the runner that
/// owns the job. The orchestrator is the only sequencer (brief §3.2).
pub(crate) struct Sequencer<B> {
    bus: B,
    runner_id: String,
    job_id: Ulid,
    attempt: u32,
    last_seq: u64,
    finished: bool,
}

impl<B: Bus> Sequencer<B> {
    pub fn new(bus: B, runner_id: String, job_id: Ulid, attempt: u32) -> Self {
        Sequencer { bus, runner_id, job_id, attempt, last_seq: 0, finished: false }
    }

    /// Whether `job_finished` went out; nothing is published after it.
    pub fn finished(&self) -> bool {
        self.finished
    }

    pub async fn emit(&mut self, event: Event) {
        self.emit_at(contract::now(), event).await;
    }

    pub async fn emit_at(&mut self, at: Timestamp, event: Event) {
        if self.finished {
            tracing::debug!(?event, "event after job_finished dropped");
            return;
        }
        self.finished = matches!(event, Event::JobFinished { .. });
        self.last_seq += 1;
        let event = JobEvent { job_id: self.job_id, attempt: self.attempt, seq: self.last_seq, at, event };
        if let Err(error) = self.bus.publish_event(&self.runner_id, &event).await {
            // The bus implementation retries; what still fails is lost for this runner, and the
            // gap in seq tells it so.
            tracing::error!(%error, seq = event.seq, "publishing a job event failed");
        }
    }
}
