//! One registration's event routing: its events queue (routing key = its runner id) consumed
//! once, each delivery handed to the job it belongs to, and acked only once that job's report
//! saved it — so a runner killed mid-job finds the unsaved events again on the durable queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bus::{Acker, BusError, Consumer};
use contract::JobEvent;
use tokio::sync::{mpsc, watch};
use ulid::Ulid;

use crate::report::Mark;

/// Above the bus's prefetch (64), so the consumer never waits on one job while others starve.
const EVENT_BUFFER: usize = 256;

/// Where one job's deliveries go.
struct Route {
    events: mpsc::Sender<JobEvent>,
    acks: mpsc::UnboundedSender<(Mark, Acker)>,
}

/// The routing table of one registration: our job id → its report's channels.
#[derive(Default, Clone)]
pub struct Routes {
    table: Arc<Mutex<HashMap<Ulid, Route>>>,
}

/// A job's side of its route.
pub struct Follow {
    pub events: mpsc::Receiver<JobEvent>,
    pub acks: mpsc::UnboundedReceiver<(Mark, Acker)>,
}

impl Routes {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Ulid, Route>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Routes `job_id`'s events from now on. Made before the job is published (or, for a
    /// resumed job, before the consumer starts), so no early event finds it unknown.
    pub fn add(&self, job_id: Ulid) -> Follow {
        let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
        let (acks_tx, acks) = mpsc::unbounded_channel();
        self.table().insert(job_id, Route { events: events_tx, acks: acks_tx });
        Follow { events, acks }
    }

    pub fn remove(&self, job_id: Ulid) {
        self.table().remove(&job_id);
    }

    /// Drops every route: the reports see their events end and detach (shutdown).
    pub fn clear(&self) {
        self.table().clear();
    }

    /// Hands each delivery to its job until the consumer fails for good; events of jobs this
    /// registration does not follow (finished earlier) are acked and dropped.
    pub async fn consume<C: Consumer<JobEvent>>(&self, mut consumer: C) -> BusError {
        loop {
            let delivery = match consumer.next().await {
                Ok(delivery) => delivery,
                Err(error) => return error,
            };
            let event = delivery.payload;
            let mark = Mark { attempt: event.attempt, seq: event.seq };
            let target = self.table().get(&event.job_id).map(|route| (route.events.clone(), route.acks.clone()));
            let Some((events, acks)) = target else {
                tracing::debug!(job_id = %event.job_id, seq = event.seq, "dropping an event of a job this runner does not follow");
                settle(delivery.acker).await;
                continue;
            };
            if let Err(mpsc::error::SendError((_, acker))) = acks.send((mark, delivery.acker)) {
                settle(acker).await;
                continue;
            }
            let _ = events.send(event).await;
        }
    }
}

/// Acks each delivery once the report's saved mark reaches it; once `done` says the job is
/// over, acks the rest too. A detached report's unsaved deliveries stay unacked for the next
/// start.
pub async fn ack_saved(
    mut acks: mpsc::UnboundedReceiver<(Mark, Acker)>,
    mut saved: watch::Receiver<Option<Mark>>,
    mut done: watch::Receiver<Option<bool>>,
) {
    let mut pending: VecDeque<(Mark, Acker)> = VecDeque::new();
    let mut saved_open = true;
    let finished = loop {
        let mark = *saved.borrow_and_update();
        let mut keep = VecDeque::new();
        for (event_mark, acker) in pending.drain(..) {
            if mark.is_some_and(|mark| event_mark <= mark) {
                settle(acker).await;
            } else {
                keep.push_back((event_mark, acker));
            }
        }
        pending = keep;
        if let Some(finished) = *done.borrow() {
            break finished;
        }
        tokio::select! {
            received = acks.recv() => match received {
                Some(entry) => pending.push_back(entry),
                None => {
                    let _ = done.wait_for(Option::is_some).await;
                    break done.borrow().unwrap_or(false);
                }
            },
            changed = saved.changed(), if saved_open => saved_open = changed.is_ok(),
            changed = done.changed() => {
                if changed.is_err() {
                    break false;
                }
            }
        }
    };
    if finished {
        acks.close();
        while let Some(entry) = acks.recv().await {
            pending.push_back(entry);
        }
        for (_, acker) in pending {
            settle(acker).await;
        }
    }
}

async fn settle(acker: Acker) {
    if let Err(error) = acker.ack().await {
        tracing::warn!(error = %crate::error_chain(&error), "could not ack an event");
    }
}
