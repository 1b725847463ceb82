//! The bus inside one process (`solstice run`, `solstice serve`, tests): one lock around every
//! queue, one `Notify` that wakes waiting consumers whenever something changed. Queues are
//! unbounded, so a slow consumer loses nothing; what it has not acked comes back when it goes.

mod consumer;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};

use contract::{JobEvent, JobRequest};
use tokio::sync::Notify;

pub use consumer::InProcessConsumer;
use state::State;

use crate::acker::{Settle, Verdict};
use crate::{Bus, BusError, Cancel, FreeSlots};

/// An in-process [`Bus`]. Clones share the same queues.
#[derive(Clone, Default)]
pub struct InProcessBus {
    shared: Arc<Shared>,
}

#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

impl Shared {
    /// The state, even if a thread panicked while holding the lock: every mutation of `State`
    /// leaves it consistent before anything that could panic.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wake(&self) {
        self.changed.notify_waiters();
    }
}

impl Settle for Shared {
    fn settle(&self, tag: u64, verdict: Verdict) -> Result<(), BusError> {
        let result = self.lock().settle(tag, verdict);
        self.wake();
        result
    }
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many requests wait (not delivered) on the queue of `label`; `None` if the label has
    /// no queue.
    pub fn queued_jobs(&self, label: &str) -> Option<usize> {
        self.shared.lock().queued_jobs(label)
    }

    /// How many deliveries are out and not yet settled, over all consumers.
    pub fn unacked(&self) -> usize {
        self.shared.lock().unacked_count()
    }
}

impl Bus for InProcessBus {
    type JobConsumer = InProcessConsumer<JobRequest>;
    type EventConsumer = InProcessConsumer<JobEvent>;
    type CancelConsumer = InProcessConsumer<Cancel>;
    type SlotConsumer = InProcessConsumer<FreeSlots>;

    async fn publish_job(&self, request: &JobRequest) -> Result<(), BusError> {
        self.shared.lock().push_job(request.clone())?;
        tracing::debug!(job_id = %request.job_id, label = %request.route_label, "job published");
        self.shared.wake();
        Ok(())
    }

    async fn consume_jobs(&self, labels: &[String], credit: u32) -> Result<Self::JobConsumer, BusError> {
        if credit == 0 {
            return Err(BusError::ZeroCredit);
        }
        if labels.is_empty() {
            return Err(BusError::NoLabels);
        }
        let id = self.shared.lock().add_job_consumer(labels, credit);
        Ok(InProcessConsumer::new(id, self.shared.clone(), consumer::Source::Jobs(labels.to_vec())))
    }

    async fn publish_event(&self, runner_id: &str, event: &JobEvent) -> Result<(), BusError> {
        self.shared.lock().push_event(runner_id, event.clone());
        self.shared.wake();
        Ok(())
    }

    async fn consume_events(&self, runner_id: &str) -> Result<Self::EventConsumer, BusError> {
        let id = self.shared.lock().add_event_consumer(runner_id);
        Ok(InProcessConsumer::new(id, self.shared.clone(), consumer::Source::Events(runner_id.to_owned())))
    }

    async fn publish_cancel(&self, cancel: &Cancel) -> Result<(), BusError> {
        let reached = self.shared.lock().push_cancel(cancel);
        tracing::debug!(job_id = %cancel.job_id, subscribers = reached, "cancel published");
        self.shared.wake();
        Ok(())
    }

    async fn subscribe_cancels(&self) -> Result<Self::CancelConsumer, BusError> {
        let (id, queue) = self.shared.lock().add_cancel_subscriber(None);
        Ok(InProcessConsumer::new(id, self.shared.clone(), consumer::Source::Cancels(queue)))
    }

    async fn consume_cancels(&self, subscriber_id: &str) -> Result<Self::CancelConsumer, BusError> {
        let (id, queue) = self.shared.lock().add_cancel_subscriber(Some(subscriber_id));
        Ok(InProcessConsumer::new(id, self.shared.clone(), consumer::Source::Cancels(queue)))
    }

    async fn publish_slots(&self, slots: &FreeSlots) -> Result<(), BusError> {
        let reached = self.shared.lock().push_slots(slots);
        tracing::trace!(orchestrator = %slots.orchestrator_id, subscribers = reached, "free slots published");
        self.shared.wake();
        Ok(())
    }

    async fn subscribe_slots(&self) -> Result<Self::SlotConsumer, BusError> {
        let id = self.shared.lock().add_slot_subscriber();
        Ok(InProcessConsumer::new(id, self.shared.clone(), consumer::Source::Slots))
    }
}
