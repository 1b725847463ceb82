//! The bus over RabbitMQ (lapin), with the topology of brief §3.4 (`topology` has the names and
//! arguments, `docs/architecture.md` the table).
//!
//! One connection per [`AmqpBus`] (shared by its clones), one confirm-mode channel for every
//! publish, one channel per consumer. A lost connection is re-established with capped, jittered
//! backoff: a publish in flight is sent again until the broker confirms it (at least once),
//! consumers subscribe again, and what a consumer had not acked is delivered again by the
//! broker. When the broker stays away for the whole budget, calls fail with
//! [`BusError::Unavailable`].
//!
//! A daemon builds it from its settings and maps the two setup errors to exit codes:
//! ```no_run
//! # async fn daemon() -> u8 {
//! use bus::{AmqpBus, AmqpSettings, BusError};
//!
//! let settings = match AmqpSettings::from_env() {
//!     Ok(settings) => AmqpSettings { connection_name: "orchestrator host-1".into(), ..settings },
//!     Err(_) => return 2, // SOLSTICE_AMQP_URL missing or not an AMQP URL
//! };
//! let bus = match AmqpBus::connect(settings).await {
//!     Ok(bus) => bus,
//!     Err(error) if error.is_unavailable() => return 3,
//!     Err(_) => return 2,
//! };
//! # 0 }
//! ```
//! Later calls can fail with [`BusError::Unavailable`] too (the broker went away for longer
//! than the budget): exit 3 as well, and let the service manager start the daemon again.

mod consumer;
mod link;
mod settings;
mod topology;

use std::sync::Arc;

use contract::{JobEvent, JobRequest};
use lapin::options::{BasicAckOptions, BasicNackOptions};
use serde::Serialize;

pub use consumer::AmqpConsumer;
pub use settings::{AMQP_URL_ENV, AmqpSettings, Reconnect};
pub use topology::{CANCEL, DEAD, DLX, EVENTS, JOBS, REASON_HEADER, SLOTS, SOURCE_QUEUE_HEADER};

use crate::acker::Verdict;
use crate::{Bus, BusError, Cancel, Consumer, Delivery, FreeSlots};
use consumer::Source;
use link::{Link, Outgoing, Published};

/// A [`Bus`] on RabbitMQ. Clones share one connection.
#[derive(Clone)]
pub struct AmqpBus {
    link: Arc<Link>,
}

impl AmqpBus {
    /// Connects (with the reconnect budget of `settings`) and declares the exchanges, so that a
    /// broker that is not there shows at start: [`BusError::Unavailable`], exit 3.
    pub async fn connect(settings: AmqpSettings) -> Result<Self, BusError> {
        settings.validate()?;
        let link = Arc::new(Link::new(settings));
        // Opening a channel opens the connection; the channel itself is not needed.
        drop(link.channel().await?);
        Ok(AmqpBus { link })
    }

    pub fn settings(&self) -> &AmqpSettings {
        &self.link.settings
    }

    async fn publish<T: Serialize>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &T,
        mandatory: bool,
    ) -> Result<Published, BusError> {
        let payload = serde_json::to_vec(message).map_err(BusError::Encode)?;
        let outgoing = Outgoing { exchange, routing_key, payload: &payload, mandatory, headers: None };
        self.link.publish(&outgoing).await
    }
}

impl Bus for AmqpBus {
    type JobConsumer = AmqpConsumer<JobRequest>;
    type EventConsumer = AmqpConsumer<JobEvent>;
    type CancelConsumer = AmqpConsumer<Cancel>;
    type SlotConsumer = AmqpConsumer<FreeSlots>;

    async fn publish_job(&self, request: &JobRequest) -> Result<(), BusError> {
        match self.publish(JOBS, &request.route_label, request, true).await? {
            Published::Routed => {
                tracing::debug!(job_id = %request.job_id, label = %request.route_label, "job published");
                Ok(())
            }
            Published::Returned => {
                Err(BusError::NoConsumer { label: request.route_label.clone(), job_id: request.job_id })
            }
        }
    }

    async fn consume_jobs(&self, labels: &[String], credit: u32) -> Result<Self::JobConsumer, BusError> {
        if credit == 0 {
            return Err(BusError::ZeroCredit);
        }
        if labels.is_empty() {
            return Err(BusError::NoLabels);
        }
        let credit = u16::try_from(credit).unwrap_or(u16::MAX);
        AmqpConsumer::subscribe(self.link.clone(), Source::Jobs { labels: labels.to_vec(), credit }).await
    }

    async fn publish_event(&self, runner_id: &str, event: &JobEvent) -> Result<(), BusError> {
        // Mandatory, so that an event for a runner whose queue does not exist yet creates the
        // queue (as the runner would) instead of vanishing.
        if self.publish(EVENTS, runner_id, event, true).await? == Published::Routed {
            return Ok(());
        }
        tracing::info!(runner_id, "declaring the event queue of a runner that has not consumed yet");
        let channel = self.link.channel().await?;
        topology::declare_event_queue(&channel, &self.link.settings, runner_id).await.map_err(|source| {
            BusError::Refused {
                what: format!("declare queue {}", topology::event_queue(runner_id)),
                source: Box::new(source),
            }
        })?;
        match self.publish(EVENTS, runner_id, event, true).await? {
            Published::Routed => Ok(()),
            Published::Returned => Err(BusError::Refused {
                what: format!("publish an event for runner {runner_id}"),
                source: "the event came back although its queue was declared".into(),
            }),
        }
    }

    async fn consume_events(&self, runner_id: &str) -> Result<Self::EventConsumer, BusError> {
        AmqpConsumer::subscribe(self.link.clone(), Source::Events { runner_id: runner_id.to_owned() }).await
    }

    async fn publish_cancel(&self, cancel: &Cancel) -> Result<(), BusError> {
        // Not mandatory: a cancel nobody hears is fine (no orchestrator runs or queues anything).
        self.publish(CANCEL, "", cancel, false).await?;
        tracing::debug!(job_id = %cancel.job_id, "cancel published");
        Ok(())
    }

    async fn subscribe_cancels(&self) -> Result<Self::CancelConsumer, BusError> {
        let subscriber = ulid::Ulid::new().to_string().to_lowercase();
        AmqpConsumer::subscribe(self.link.clone(), Source::Cancels { subscriber }).await
    }

    async fn consume_cancels(&self, subscriber_id: &str) -> Result<Self::CancelConsumer, BusError> {
        AmqpConsumer::subscribe(self.link.clone(), Source::Cancels { subscriber: subscriber_id.to_owned() }).await
    }

    async fn publish_slots(&self, slots: &FreeSlots) -> Result<(), BusError> {
        self.publish(SLOTS, "", slots, false).await?;
        tracing::trace!(orchestrator = %slots.orchestrator_id, "free slots published");
        Ok(())
    }

    async fn subscribe_slots(&self) -> Result<Self::SlotConsumer, BusError> {
        AmqpConsumer::subscribe(self.link.clone(), Source::Slots).await
    }
}

macro_rules! consumer_of {
    ($payload:ty) => {
        impl Consumer<$payload> for AmqpConsumer<$payload> {
            async fn next(&mut self) -> Result<Delivery<$payload>, BusError> {
                self.next_delivery().await
            }
        }
    };
}

consumer_of!(JobRequest);
consumer_of!(JobEvent);
consumer_of!(Cancel);
consumer_of!(FreeSlots);

/// Settles one AMQP delivery on the channel it came from.
pub(crate) struct DeliveryAcker(lapin::Acker);

impl DeliveryAcker {
    pub(crate) async fn settle(self, tag: u64, verdict: Verdict) -> Result<(), BusError> {
        let settled = match verdict {
            Verdict::Ack => self.0.ack(BasicAckOptions::default()).await,
            Verdict::Requeue => self.0.nack(BasicNackOptions { requeue: true, multiple: false }).await,
            // Dead-lettered through the queue's `x-dead-letter-exchange`.
            Verdict::Reject => self.0.nack(BasicNackOptions { requeue: false, multiple: false }).await,
        };
        match settled {
            Ok(true) => Ok(()),
            // Its channel closed: the broker has queued the message again.
            Ok(false) | Err(_) => Err(BusError::ConsumerGone { tag }),
        }
    }
}
