//! The bus against the semantics of brief §3.4: routing by label, credit, acks and redelivery,
//! events per runner, cancel and slot fanout. Each behavioural test is written once and runs
//! against the in-process bus and against RabbitMQ (`behaviour!`); `amqp` holds what only a
//! broker has: poison messages, delivery limits, connection loss.
//!
//! The RabbitMQ tests need `rabbitmqctl` and the broker at 127.0.0.1:5672 (guest/guest); each
//! test makes a vhost of its own and deletes it at the end.

mod amqp;
mod cancels;
mod events;
mod jobs;
mod slots;
mod support;

use std::time::Duration;

use bus::{BusError, Consumer, Delivery};
use contract::{Event, ForgeKind, JobEvent, JobRequest, Origin};
use ulid::Ulid;

/// How long a delivery that should come may take, even on a loaded CI machine.
const DEADLINE: Duration = Duration::from_secs(15);

/// Instantiates each named `async fn name<B: Backend>(backend: B)` as `name::in_process` (paused
/// clock) and `name::amqp` (a RabbitMQ vhost of its own).
#[macro_export]
macro_rules! behaviour {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::support::backend::{Amqp, Backend, InProcess};

                #[tokio::test(start_paused = true)]
                async fn in_process() {
                    super::$name(InProcess::start().await).await;
                }

                #[tokio::test]
                async fn amqp() {
                    super::$name(Amqp::start().await).await;
                }
            }
        )*
    };
}

fn request(label: &str, key: &str) -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: "runner-1".into(), forge_ref: serde_json::Value::Null };
    JobRequest::new(Ulid::new(), origin, label, key)
}

fn event(job_id: Ulid, seq: u64) -> JobEvent {
    JobEvent { job_id, attempt: 1, seq, at: contract::now(), event: Event::Heartbeat }
}

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The next delivery if one comes within `wait`.
async fn try_next<T, C: Consumer<T>>(consumer: &mut C, wait: Duration) -> Option<Delivery<T>> {
    match tokio::time::timeout(wait, consumer.next()).await {
        Ok(Ok(delivery)) => Some(delivery),
        Ok(Err(error)) => panic!("consumer failed: {error}"),
        Err(_) => None,
    }
}

/// The next delivery, which must come before the deadline.
async fn next<T, C: Consumer<T>>(consumer: &mut C) -> Delivery<T> {
    match try_next(consumer, DEADLINE).await {
        Some(delivery) => delivery,
        None => panic!("expected a delivery within {DEADLINE:?}, the consumer waits"),
    }
}

fn is_no_consumer(error: &BusError, expected: &str) -> bool {
    matches!(error, BusError::NoConsumer { label, .. } if label == expected)
}
