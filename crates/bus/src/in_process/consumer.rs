use std::marker::PhantomData;
use std::sync::Arc;

use contract::{JobEvent, JobRequest};

use super::Shared;
use super::state::{Queued, State};
use crate::{Acker, BusError, Cancel, Consumer, Delivery, FreeSlots};

/// A consumer on the [`super::InProcessBus`]. Dropping it queues its unacked deliveries again.
pub struct InProcessConsumer<T> {
    id: u64,
    shared: Arc<Shared>,
    source: Source,
    cursor: usize,
    _payload: PhantomData<fn() -> T>,
}

pub(crate) enum Source {
    Jobs(Vec<String>),
    Events(String),
    /// The name of the subscriber's cancel queue.
    Cancels(String),
    Slots,
}

/// How each payload type is taken from the state.
pub(crate) trait Payload: Sized + Send + 'static {
    fn take(state: &mut State, consumer: u64, source: &Source, cursor: &mut usize) -> Option<(u64, Queued<Self>)>;
}

impl Payload for JobRequest {
    fn take(state: &mut State, consumer: u64, source: &Source, cursor: &mut usize) -> Option<(u64, Queued<Self>)> {
        match source {
            Source::Jobs(labels) => state.take_job(consumer, labels, cursor),
            _ => None,
        }
    }
}

impl Payload for JobEvent {
    fn take(state: &mut State, consumer: u64, source: &Source, _: &mut usize) -> Option<(u64, Queued<Self>)> {
        match source {
            Source::Events(runner) => state.take_event(consumer, runner),
            _ => None,
        }
    }
}

impl Payload for Cancel {
    fn take(state: &mut State, consumer: u64, source: &Source, _: &mut usize) -> Option<(u64, Queued<Self>)> {
        match source {
            Source::Cancels(queue) => state.take_cancel(consumer, queue),
            _ => None,
        }
    }
}

impl Payload for FreeSlots {
    fn take(state: &mut State, consumer: u64, source: &Source, _: &mut usize) -> Option<(u64, Queued<Self>)> {
        match source {
            Source::Slots => state.take_slots(consumer),
            _ => None,
        }
    }
}

impl<T> InProcessConsumer<T> {
    pub(crate) fn new(id: u64, shared: Arc<Shared>, source: Source) -> Self {
        InProcessConsumer { id, shared, source, cursor: 0, _payload: PhantomData }
    }
}

fn try_take<T: Payload>(consumer: &mut InProcessConsumer<T>) -> Option<Delivery<T>> {
    let (tag, queued) = T::take(&mut consumer.shared.lock(), consumer.id, &consumer.source, &mut consumer.cursor)?;
    Some(Delivery {
        payload: queued.payload,
        redelivered: queued.redelivered,
        acker: Acker::in_process(tag, consumer.shared.clone()),
    })
}

async fn next_delivery<T: Payload>(consumer: &mut InProcessConsumer<T>) -> Delivery<T> {
    let shared = consumer.shared.clone();
    loop {
        // Register for the wake-up before looking, so a publish in between is not missed.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Some(delivery) = try_take(consumer) {
            return delivery;
        }
        changed.await;
    }
}

// One impl per payload rather than a blanket one, so the crate-private `Payload` stays out of
// the public interface.
macro_rules! consumer_of {
    ($payload:ty) => {
        impl Consumer<$payload> for InProcessConsumer<$payload> {
            async fn next(&mut self) -> Result<Delivery<$payload>, BusError> {
                Ok(next_delivery(self).await)
            }
        }
    };
}

consumer_of!(JobRequest);
consumer_of!(JobEvent);
consumer_of!(Cancel);
consumer_of!(FreeSlots);

impl<T> Drop for InProcessConsumer<T> {
    fn drop(&mut self) {
        self.shared.lock().remove_consumer(self.id);
        self.shared.wake();
    }
}
