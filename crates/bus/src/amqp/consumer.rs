//! A consumer of one or more queues on its own channel, re-subscribing after a connection loss.

use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_core::Stream;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, message::Delivery as AmqpDelivery};
use serde::de::DeserializeOwned;

use super::link::{Link, Outgoing};
use super::settings::Backoff;
use super::topology;
use crate::{Acker, BusError, Delivery};

/// A consumer on the [`super::AmqpBus`]. Dropping it closes its channel, so the broker queues
/// its unacked deliveries again.
pub struct AmqpConsumer<T> {
    link: Arc<Link>,
    source: Source,
    /// The channel the current subscription lives on; `None` until subscribed.
    channel: Option<Channel>,
    /// One lapin consumer per queue; empty when the subscription was lost.
    streams: Vec<(String, lapin::Consumer)>,
    /// Where the round-robin over `streams` starts next, so a busy queue does not starve others.
    cursor: usize,
    _payload: PhantomData<fn() -> T>,
}

/// What a consumer subscribes to; enough to subscribe again after a reconnect.
pub(crate) enum Source {
    Jobs {
        labels: Vec<String>,
        credit: u16,
    },
    Events {
        runner_id: String,
    },
    /// `subscriber` names its queue, the same one again after a reconnect.
    Cancels {
        subscriber: String,
    },
    Slots,
}

impl<T: DeserializeOwned> AmqpConsumer<T> {
    /// Subscribes right away, so that declaration errors surface to the caller and the queues
    /// exist (and labels are routable) when this returns.
    pub(crate) async fn subscribe(link: Arc<Link>, source: Source) -> Result<Self, BusError> {
        let mut consumer =
            AmqpConsumer { link, source, channel: None, streams: Vec::new(), cursor: 0, _payload: PhantomData };
        consumer.resubscribe().await?;
        Ok(consumer)
    }

    pub(crate) async fn next_delivery(&mut self) -> Result<Delivery<T>, BusError> {
        loop {
            if self.streams.is_empty() {
                self.resubscribe().await?;
            }
            let (queue, item) = self.poll_streams().await;
            let delivery = match item {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    tracing::warn!(%queue, %error, "consumer lost its channel, subscribing again");
                    self.streams.clear();
                    continue;
                }
                None => {
                    tracing::warn!(%queue, "the broker cancelled the consumer, subscribing again");
                    self.streams.clear();
                    continue;
                }
            };
            match serde_json::from_slice::<T>(&delivery.data) {
                Ok(payload) => {
                    return Ok(Delivery {
                        payload,
                        redelivered: delivery.redelivered,
                        acker: Acker::amqp(delivery.delivery_tag, super::DeliveryAcker(delivery.acker)),
                    });
                }
                Err(error) => {
                    if let Err(failed) = self.dead_letter(&queue, delivery, &error).await {
                        // Give the message back (closing the channel) rather than sit on it.
                        self.streams.clear();
                        self.channel = None;
                        return Err(failed);
                    }
                }
            }
        }
    }

    /// The next item of any stream, round-robin. Cancel safe: a stream yields an item only
    /// from within the poll that returns it.
    async fn poll_streams(&mut self) -> (String, Option<lapin::Result<AmqpDelivery>>) {
        let streams = &mut self.streams;
        let cursor = &mut self.cursor;
        poll_fn(|cx| {
            let count = streams.len();
            for offset in 0..count {
                let index = (*cursor + offset) % count;
                let (queue, stream) = &mut streams[index];
                if let Poll::Ready(item) = Pin::new(stream).poll_next(cx) {
                    *cursor = index + 1;
                    return Poll::Ready((queue.clone(), item));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Moves an unreadable message to `solstice.dlx` with the reason in a header, then acks it,
    /// so one bad message never blocks the queue. Publishing first means a crash in between
    /// leaves a duplicate dead letter, never a lost one.
    async fn dead_letter(
        &mut self,
        queue: &str,
        delivery: AmqpDelivery,
        error: &serde_json::Error,
    ) -> Result<(), BusError> {
        let reason = format!("unreadable message: {error}");
        tracing::error!(%queue, %reason, "dead-lettering a message");
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(topology::REASON_HEADER.into(), AMQPValue::LongString(LongString::from(reason.as_str())));
        headers.insert(topology::SOURCE_QUEUE_HEADER.into(), AMQPValue::LongString(LongString::from(queue)));
        let outgoing = Outgoing {
            exchange: topology::DLX,
            routing_key: delivery.routing_key.as_str(),
            payload: &delivery.data,
            mandatory: false,
            headers: Some(headers),
        };
        self.link.publish(&outgoing).await?;
        if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
            // The channel went; the message comes back and is dead-lettered again.
            tracing::warn!(%queue, %error, "could not ack a dead-lettered message");
            self.streams.clear();
        }
        Ok(())
    }

    /// Opens a fresh channel, declares the queues and consumes them. Dropping the previous
    /// channel closes it, which hands anything it held unacked back to the broker.
    async fn resubscribe(&mut self) -> Result<(), BusError> {
        self.streams.clear();
        self.channel = None;
        let mut backoff = Backoff::new(self.link.settings.reconnect);
        loop {
            let channel = self.link.channel().await?;
            self.channel = Some(channel.clone());
            match self.consume_on(&channel).await {
                Ok(streams) => {
                    self.streams = streams;
                    return Ok(());
                }
                Err(Failure::Refused(what, error)) => {
                    return Err(BusError::Refused { what, source: Box::new(error) });
                }
                Err(Failure::Lost(error)) => {
                    self.channel = None;
                    self.link.pause(&mut backoff, error).await?;
                }
                Err(Failure::Bus(error)) => return Err(error),
            }
        }
    }

    async fn consume_on(&self, channel: &Channel) -> Result<Vec<(String, lapin::Consumer)>, Failure> {
        let settings = &self.link.settings;
        let (queues, prefetch) = match &self.source {
            Source::Jobs { labels, credit } => {
                let mut queues = Vec::new();
                for label in labels {
                    let queue = topology::declare_job_queue(channel, settings, label)
                        .await
                        .map_err(|e| Failure::of(e, format!("declare queue {}", topology::job_queue(label))))?;
                    queues.push(queue);
                }
                (queues, *credit)
            }
            Source::Events { runner_id } => {
                let queue = match topology::declare_event_queue(channel, settings, runner_id).await {
                    Ok(queue) => queue,
                    Err(error) if error.is_amqp_soft_error() => {
                        // Refused (closing the channel): it exists with other arguments.
                        tracing::info!(runner_id, %error, "using the runner's event queue as it was declared");
                        return Box::pin(self.consume_existing_events(runner_id)).await;
                    }
                    Err(error) => return Err(Failure::Lost(error)),
                };
                (vec![queue], settings.prefetch)
            }
            Source::Cancels { subscriber } => {
                let queue = topology::declare_cancel_queue(channel, settings, subscriber)
                    .await
                    .map_err(|e| Failure::of(e, format!("declare queue {}", topology::cancel_queue(subscriber))))?;
                (vec![queue], settings.prefetch)
            }
            Source::Slots => {
                let queue = topology::declare_slot_queue(channel)
                    .await
                    .map_err(|e| Failure::of(e, "declare a slot queue".into()))?;
                (vec![queue], settings.prefetch)
            }
        };
        consume(channel, queues, prefetch).await
    }

    async fn consume_existing_events(&self, runner_id: &str) -> Result<Vec<(String, lapin::Consumer)>, Failure> {
        // The streams keep their channel open; this handle may go.
        let channel = self.link.channel().await.map_err(Failure::Bus)?;
        let queue = topology::declare_existing_event_queue(&channel, runner_id)
            .await
            .map_err(|e| Failure::of(e, format!("declare queue {}", topology::event_queue(runner_id))))?;
        consume(&channel, vec![queue], self.link.settings.prefetch).await
    }
}

/// Per-consumer prefetch (`global = false`), then one consumer per queue. With several
/// consumers on one channel each gets the full prefetch: the credit is per queue.
async fn consume(
    channel: &Channel,
    queues: Vec<String>,
    prefetch: u16,
) -> Result<Vec<(String, lapin::Consumer)>, Failure> {
    channel
        .basic_qos(prefetch, BasicQosOptions { global: false })
        .await
        .map_err(|e| Failure::of(e, "set the consumer's prefetch".into()))?;
    let mut streams = Vec::new();
    for queue in queues {
        let stream = channel
            .basic_consume(queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(|e| Failure::of(e, format!("consume queue {queue}")))?;
        streams.push((queue, stream));
    }
    Ok(streams)
}

/// Why subscribing failed: for good (the broker refused), for now (the connection went), or
/// the link gave up.
enum Failure {
    Refused(String, lapin::Error),
    Lost(lapin::Error),
    Bus(BusError),
}

impl Failure {
    fn of(error: lapin::Error, what: String) -> Self {
        if error.is_amqp_soft_error() { Failure::Refused(what, error) } else { Failure::Lost(error) }
    }
}
