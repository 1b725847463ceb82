//! Names and arguments of brief §3.4, in one place; `docs/architecture.md` shows them as a
//! table. Everything durable is a quorum queue; the only classic queues are exclusive ones (slot
//! subscribers), so nothing here uses a feature RabbitMQ 4 removed.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use super::settings::AmqpSettings;

/// JobRequests, routing key = `route_label`; published `mandatory`.
pub const JOBS: &str = "solstice.jobs";
/// JobEvents, routing key = runner instance id.
pub const EVENTS: &str = "solstice.events";
/// Cancels, fanned out to every subscriber's queue.
pub const CANCEL: &str = "solstice.cancel";
/// Free-slot adverts, fanned out to every subscribed runner.
pub const SLOTS: &str = "solstice.slots";
/// Where poison messages go: a fanout, so dead letters keep their original routing key.
pub const DLX: &str = "solstice.dlx";
/// The one queue of dead letters, for an operator to read.
pub const DEAD: &str = "solstice.dead";

/// Header of a message this crate dead-lettered itself: why it could not be read.
pub const REASON_HEADER: &str = "x-solstice-reason";
/// Header of such a message: the queue it came from.
pub const SOURCE_QUEUE_HEADER: &str = "x-solstice-queue";

pub fn job_queue(label: &str) -> String {
    format!("{JOBS}.{label}")
}

pub fn event_queue(runner_id: &str) -> String {
    format!("{EVENTS}.{runner_id}")
}

pub fn cancel_queue(subscriber: &str) -> String {
    format!("{CANCEL}.{subscriber}")
}

/// Declares the exchanges and the dead-letter queue: idempotent, done on every new connection.
pub async fn declare_exchanges(channel: &Channel) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    for (name, kind) in [
        (JOBS, ExchangeKind::Direct),
        (EVENTS, ExchangeKind::Direct),
        (CANCEL, ExchangeKind::Fanout),
        (SLOTS, ExchangeKind::Fanout),
        (DLX, ExchangeKind::Fanout),
    ] {
        channel.exchange_declare(name.into(), kind, durable, FieldTable::default()).await?;
    }
    channel.queue_declare(DEAD.into(), durable_queue(), quorum()).await?;
    channel.queue_bind(DEAD.into(), DLX.into(), "".into(), QueueBindOptions::default(), FieldTable::default()).await?;
    Ok(())
}

/// `solstice.jobs.<label>`, bound to `solstice.jobs` by its label.
pub async fn declare_job_queue(channel: &Channel, settings: &AmqpSettings, label: &str) -> lapin::Result<String> {
    let queue = job_queue(label);
    let mut arguments = quorum();
    arguments.insert("x-delivery-limit".into(), AMQPValue::LongInt(clamp_i32(settings.job_delivery_limit)));
    arguments.insert("x-dead-letter-exchange".into(), string(DLX));
    channel.queue_declare(queue.as_str().into(), durable_queue(), arguments).await?;
    bind(channel, &queue, JOBS, label).await?;
    Ok(queue)
}

/// The arguments of `solstice.events.<runner-id>` when this process creates it.
pub fn event_queue_arguments(settings: &AmqpSettings) -> FieldTable {
    let mut arguments = quorum();
    arguments.insert("x-dead-letter-exchange".into(), string(DLX));
    if let Some(expiry) = settings.event_queue_expiry {
        arguments.insert("x-expires".into(), AMQPValue::LongInt(millis(expiry)));
    }
    arguments
}

/// `solstice.events.<runner-id>`, bound to `solstice.events` by the runner id. A queue that
/// exists with other arguments (its runner is ephemeral and this process is not, or the other
/// way round) is used as it is: `passive` re-declares it without arguments, on a fresh channel
/// since the refusal closed the first one.
pub async fn declare_event_queue(channel: &Channel, settings: &AmqpSettings, runner_id: &str) -> lapin::Result<String> {
    let queue = event_queue(runner_id);
    channel.queue_declare(queue.as_str().into(), durable_queue(), event_queue_arguments(settings)).await?;
    bind(channel, &queue, EVENTS, runner_id).await?;
    Ok(queue)
}

pub async fn declare_existing_event_queue(channel: &Channel, runner_id: &str) -> lapin::Result<String> {
    let queue = event_queue(runner_id);
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await?;
    bind(channel, &queue, EVENTS, runner_id).await?;
    Ok(queue)
}

/// `solstice.cancel.<subscriber>`: a quorum queue, so cancels published while the subscriber
/// reconnects wait for it, with `x-expires` so that it goes once the subscriber is gone.
pub async fn declare_cancel_queue(
    channel: &Channel,
    settings: &AmqpSettings,
    subscriber: &str,
) -> lapin::Result<String> {
    let queue = cancel_queue(subscriber);
    let mut arguments = quorum();
    arguments.insert("x-dead-letter-exchange".into(), string(DLX));
    arguments.insert("x-expires".into(), AMQPValue::LongInt(millis(settings.cancel_queue_expiry)));
    channel.queue_declare(queue.as_str().into(), durable_queue(), arguments).await?;
    bind(channel, &queue, CANCEL, "").await?;
    Ok(queue)
}

/// A server-named exclusive queue bound to `solstice.slots`: adverts are fresh state, so a
/// subscriber that reconnects just takes the next ones.
pub async fn declare_slot_queue(channel: &Channel) -> lapin::Result<String> {
    let exclusive = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare("".into(), exclusive, FieldTable::default()).await?;
    let name = queue.name().as_str().to_owned();
    bind(channel, &name, SLOTS, "").await?;
    Ok(name)
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    channel
        .queue_bind(queue.into(), exchange.into(), key.into(), QueueBindOptions::default(), FieldTable::default())
        .await
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }
}

fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), string("quorum"));
    arguments
}

pub fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX).max(1)
}

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
