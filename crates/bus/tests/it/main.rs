//! The in-process bus against the semantics of brief §3.4: routing by label, credit, acks and
//! redelivery, events per runner, cancel fanout.

mod cancels;
mod events;
mod jobs;

use std::time::Duration;

use bus::{BusError, Consumer, Delivery};
use contract::{ForgeKind, JobRequest, Origin};
use ulid::Ulid;

fn request(label: &str, key: &str) -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: "runner-1".into(), forge_ref: serde_json::Value::Null };
    JobRequest::new(Ulid::new(), origin, label, key)
}

/// The next delivery if one is available without waiting for a publish. Tests run with paused
/// time, so the timeout elapses only once every task is idle: no wall-clock sleep is involved.
async fn try_next<T, C: Consumer<T>>(consumer: &mut C) -> Option<Delivery<T>> {
    match tokio::time::timeout(Duration::from_secs(1), consumer.next()).await {
        Ok(Ok(delivery)) => Some(delivery),
        Ok(Err(error)) => panic!("consumer failed: {error}"),
        Err(_) => None,
    }
}

async fn next<T, C: Consumer<T>>(consumer: &mut C) -> Delivery<T> {
    match try_next(consumer).await {
        Some(delivery) => delivery,
        None => panic!("expected a delivery, the consumer waits"),
    }
}

fn is_no_consumer(error: &BusError, expected: &str) -> bool {
    matches!(error, BusError::NoConsumer { label, .. } if label == expected)
}
