use std::sync::Arc;

use bus::Bus;
use contract::{Event, JobEvent, JobResult, Timestamp};
use store::Store;
use ulid::Ulid;

use crate::metrics::JobClock;

/// Stamps one job attempt's events with `seq` = 1, 2, 3… and publishes them to the runner that
/// owns the job. The orchestrator is the only sequencer (brief §3.2). With a store, each `seq`
/// comes from the store's persisted high-water mark, so a restarted orchestrator (or a peer
/// that took the attempt over) continues after the last `seq` the runner saw.
pub(crate) struct Sequencer<B> {
    bus: B,
    store: Option<Arc<dyn Store>>,
    runner_id: String,
    job_id: Ulid,
    attempt: u32,
    last_seq: u64,
    finished: Option<(JobResult, Option<String>)>,
    clock: Option<JobClock>,
}

impl<B: Bus> Sequencer<B> {
    pub fn new(bus: B, store: Option<Arc<dyn Store>>, runner_id: String, job_id: Ulid, attempt: u32) -> Self {
        Sequencer { bus, store, runner_id, job_id, attempt, last_seq: 0, finished: None, clock: None }
    }

    /// Times this attempt's phases and counts it in `/metrics` from now on.
    pub fn with_clock(mut self, clock: JobClock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn job_id(&self) -> Ulid {
        self.job_id
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether `job_finished` went out; nothing is published after it.
    pub fn finished(&self) -> bool {
        self.finished.is_some()
    }

    /// The result and error text of the `job_finished` that went out.
    pub fn outcome(&self) -> Option<&(JobResult, Option<String>)> {
        self.finished.as_ref()
    }

    pub async fn emit(&mut self, event: Event) {
        self.emit_at(contract::now(), event).await;
    }

    pub async fn emit_at(&mut self, at: Timestamp, event: Event) {
        if self.finished() {
            tracing::debug!(?event, "event after job_finished dropped");
            return;
        }
        if let Event::JobFinished { result, error, .. } = &event {
            self.finished = Some((*result, error.clone()));
        }
        if let Some(clock) = &mut self.clock {
            clock.observe(&event);
        }
        self.last_seq = self.next_seq().await;
        let event = JobEvent { job_id: self.job_id, attempt: self.attempt, seq: self.last_seq, at, event };
        if let Err(error) = self.bus.publish_event(&self.runner_id, &event).await {
            // The bus implementation retries; what still fails is lost for this runner, and the
            // gap in seq tells it so.
            tracing::error!(%error, seq = event.seq, "publishing a job event failed");
            if let Some(clock) = &self.clock {
                crate::metrics::bus_error(clock.registry());
            }
        }
    }

    async fn next_seq(&self) -> u64 {
        let Some(store) = &self.store else { return self.last_seq + 1 };
        match store.next_seq(self.job_id, self.attempt).await {
            Ok(seq) => seq,
            Err(error) => {
                // Better a possible duplicate seq (which the runner drops) than no event at all.
                tracing::error!(%error, "the store could not hand out a seq; counting on in memory");
                self.last_seq + 1
            }
        }
    }
}
