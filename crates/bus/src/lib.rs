//! The bus between forge runners and orchestrators (brief §3.4), as a trait at the seam and two
//! implementations: [`InProcessBus`] (`solstice run`, `solstice serve`, tests) and [`AmqpBus`]
//! (RabbitMQ, the standalone daemons). Only this crate knows lapin.
//!
//! Four kinds of traffic, each one RabbitMQ exchange (`docs/architecture.md` has the topology):
//! - **jobs**: a [`JobRequest`] is published by its `route_label`; it reaches exactly one consumer
//!   that serves that label. Publishing to a label nobody serves fails with
//!   [`BusError::NoConsumer`] (a `mandatory` publish coming back, basic.return). A consumer has a
//!   *credit* per label (its free slots for that label): it holds at most that many unacked
//!   deliveries from each label's queue — RabbitMQ's per-consumer prefetch, so no global QoS.
//! - **events**: a [`JobEvent`] is published by runner id and queued for that runner until it
//!   consumes and acks it. Delivery is at least once: after a connection loss a consumer may see
//!   an event again, so consumers drop duplicates by `(job_id, attempt, seq)` ([`EventOrder`]).
//! - **cancels**: a [`Cancel`] is fanned out to every subscriber.
//! - **slots**: an orchestrator's [`FreeSlots`] are fanned out to every subscribed runner.
//!
//! Every publish returns once the bus holds the message (publisher confirm). Every delivery is
//! acked or nacked through its [`Acker`] after the consumer made it durable on its side. A
//! delivery neither acked nor nacked stays unacked (it keeps using credit) until its consumer is
//! dropped; then it is queued again, at the front, marked `redelivered`.
//!
//! The trait uses `impl Future + Send` returns rather than boxed futures, so users are generic
//! over `B: Bus`.

mod acker;
pub mod amqp;
mod cancel;
mod error;
mod event_order;
mod in_process;
mod slots;

use std::future::Future;

pub use acker::{Acker, Delivery};
pub use amqp::{AmqpBus, AmqpSettings};
pub use cancel::Cancel;
pub use contract::{JobEvent, JobRequest};
pub use error::BusError;
pub use event_order::{Arrival, EventOrder};
pub use in_process::InProcessBus;
pub use slots::{FreeSlots, SlotBoard};

/// The bus seam. Cloning a bus handle is cheap; every clone talks to the same bus.
pub trait Bus: Clone + Send + Sync + 'static {
    type JobConsumer: Consumer<JobRequest>;
    type EventConsumer: Consumer<JobEvent>;
    type CancelConsumer: Consumer<Cancel>;
    type SlotConsumer: Consumer<FreeSlots>;

    /// Publishes a request on the queue of `request.route_label`. Returns once the bus holds it
    /// (publisher confirm); fails with [`BusError::NoConsumer`] when no queue serves the label.
    fn publish_job(&self, request: &JobRequest) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Starts consuming the queues of `labels`, declaring them; from then on those labels are
    /// routable, and stay so after the consumer goes (the queues are durable). `credit` is how
    /// many deliveries this consumer may hold unacked at once from each label's queue (its free
    /// slots per label); it must be at least 1.
    fn consume_jobs(
        &self,
        labels: &[String],
        credit: u32,
    ) -> impl Future<Output = Result<Self::JobConsumer, BusError>> + Send;

    /// Publishes an event for the runner `runner_id` (its `origin.runner_id`).
    fn publish_event(&self, runner_id: &str, event: &JobEvent) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Consumes the events queued for `runner_id`, in publish order.
    fn consume_events(&self, runner_id: &str) -> impl Future<Output = Result<Self::EventConsumer, BusError>> + Send;

    /// Fans a cancel out to every current subscriber.
    fn publish_cancel(&self, cancel: &Cancel) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Subscribes to cancels published from now on, on a queue of this consumer's own that
    /// goes with it (or, on RabbitMQ, an hour after it).
    fn subscribe_cancels(&self) -> impl Future<Output = Result<Self::CancelConsumer, BusError>> + Send;

    /// Consumes the cancel queue of `subscriber_id` (an orchestrator's stable id), declaring it:
    /// cancels published while the subscriber is away (restarting) wait for it there, so it can
    /// record their tombstones before it takes jobs again. On RabbitMQ the queue goes after the
    /// subscriber has been away for `cancel_queue_expiry` (an hour by default).
    fn consume_cancels(
        &self,
        subscriber_id: &str,
    ) -> impl Future<Output = Result<Self::CancelConsumer, BusError>> + Send;

    /// Fans an orchestrator's free slots out to every current subscriber.
    fn publish_slots(&self, slots: &FreeSlots) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Subscribes to slot adverts published from now on. An advert missed (while the subscriber
    /// reconnects) is replaced by the orchestrator's next one.
    fn subscribe_slots(&self) -> impl Future<Output = Result<Self::SlotConsumer, BusError>> + Send;
}

/// A consumer of one kind of message. Dropping it hands its unacked deliveries back to the bus.
pub trait Consumer<T>: Send + 'static {
    /// Waits for the next delivery this consumer may take (credit permitting). Cancel safe:
    /// dropping the future before it completes loses no message, so it can sit in `select!`.
    fn next(&mut self) -> impl Future<Output = Result<Delivery<T>, BusError>> + Send;
}
