use std::fmt;
use std::sync::Arc;

use crate::BusError;

/// One message handed to a consumer, to be settled with its [`Acker`].
#[derive(Debug)]
pub struct Delivery<T> {
    pub payload: T,
    /// The bus delivered this message before and it was not acked (its consumer went away or
    /// nacked it with requeue).
    pub redelivered: bool,
    pub acker: Acker,
}

/// Settles one delivery. Dropping it unsettled leaves the delivery unacked until its consumer
/// is dropped, as on an AMQP channel.
pub struct Acker {
    tag: u64,
    target: Target,
}

enum Target {
    InProcess(Arc<dyn Settle>),
    Amqp(crate::amqp::DeliveryAcker),
}

/// What the consumer decided about a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ack,
    /// Back to the front of its queue, marked redelivered.
    Requeue,
    /// Dead-lettered: never delivered again.
    Reject,
}

/// The in-process side of an acker: the bus that handed out the delivery.
pub(crate) trait Settle: Send + Sync {
    fn settle(&self, tag: u64, verdict: Verdict) -> Result<(), BusError>;
}

impl Acker {
    pub(crate) fn in_process(tag: u64, target: Arc<dyn Settle>) -> Self {
        Acker { tag, target: Target::InProcess(target) }
    }

    pub(crate) fn amqp(tag: u64, acker: crate::amqp::DeliveryAcker) -> Self {
        Acker { tag, target: Target::Amqp(acker) }
    }

    /// The delivery tag: unique among the deliveries its consumer holds; for logs.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The consumer made the message durable on its side: the bus forgets it and the consumer
    /// gets its credit back.
    pub async fn ack(self) -> Result<(), BusError> {
        self.settle(Verdict::Ack).await
    }

    /// The consumer gives the message back: `requeue` puts it at the front of its queue again,
    /// otherwise it is dead-lettered.
    pub async fn nack(self, requeue: bool) -> Result<(), BusError> {
        self.settle(if requeue { Verdict::Requeue } else { Verdict::Reject }).await
    }

    async fn settle(self, verdict: Verdict) -> Result<(), BusError> {
        match self.target {
            Target::InProcess(target) => target.settle(self.tag, verdict),
            Target::Amqp(acker) => acker.settle(self.tag, verdict).await,
        }
    }
}

impl fmt::Debug for Acker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acker").field("tag", &self.tag).finish_non_exhaustive()
    }
}
