use bus::{Bus, Cancel};
use ulid::Ulid;

use crate::support::backend::Backend;
use crate::{behaviour, next, try_next};

behaviour!(
    a_cancel_reaches_every_subscriber,
    a_late_subscriber_sees_only_later_cancels,
    cancels_wait_for_a_restarting_orchestrator,
);

async fn a_cancel_reaches_every_subscriber<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut one = bus.subscribe_cancels().await.unwrap();
    let mut two = backend.another().await.subscribe_cancels().await.unwrap();
    let cancel = Cancel { job_id: Ulid::new(), attempt: None, reason: "user asked".into() };
    bus.publish_cancel(&cancel).await.unwrap();

    for subscriber in [&mut one, &mut two] {
        let delivery = next(subscriber).await;
        assert_eq!(delivery.payload, cancel);
        delivery.acker.ack().await.unwrap();
        assert!(try_next(subscriber, backend.quiet()).await.is_none());
    }
}

async fn a_late_subscriber_sees_only_later_cancels<B: Backend>(backend: B) {
    let bus = backend.bus();
    let early = Cancel { job_id: Ulid::new(), attempt: Some(1), reason: "early".into() };
    bus.publish_cancel(&early).await.unwrap();
    let mut late = bus.subscribe_cancels().await.unwrap();
    assert!(try_next(&mut late, backend.quiet()).await.is_none());
    let later = Cancel { job_id: Ulid::new(), attempt: None, reason: "later".into() };
    bus.publish_cancel(&later).await.unwrap();
    assert_eq!(next(&mut late).await.payload, later);
}

/// An orchestrator consuming under its stable id finds, after a restart, the cancels published
/// while it was away, and the one it had not acked first.
async fn cancels_wait_for_a_restarting_orchestrator<B: Backend>(backend: B) {
    let bus = backend.bus();
    let cancel = |reason: &str| Cancel { job_id: Ulid::new(), attempt: None, reason: reason.into() };
    let (first, second, third) = (cancel("first"), cancel("second"), cancel("third"));
    let mut before = backend.another().await.consume_cancels("orch-1").await.unwrap();
    let mut bystander = bus.subscribe_cancels().await.unwrap();
    bus.publish_cancel(&first).await.unwrap();
    let unacked = next(&mut before).await;
    assert_eq!(unacked.payload, first);
    drop(before);
    bus.publish_cancel(&second).await.unwrap();

    let mut after = backend.another().await.consume_cancels("orch-1").await.unwrap();
    let again = next(&mut after).await;
    assert_eq!(again.payload, first);
    assert!(again.redelivered);
    again.acker.ack().await.unwrap();
    let waited = next(&mut after).await;
    assert_eq!(waited.payload, second);
    waited.acker.ack().await.unwrap();
    bus.publish_cancel(&third).await.unwrap();
    assert_eq!(next(&mut after).await.payload, third);

    for expected in [&first, &second, &third] {
        assert_eq!(&next(&mut bystander).await.payload, expected);
    }
}

#[test]
fn a_cancel_applies_to_its_attempt_or_to_any() {
    let job = Ulid::new();
    let any = Cancel { job_id: job, attempt: None, reason: String::new() };
    let second = Cancel { job_id: job, attempt: Some(2), reason: String::new() };
    assert!(any.applies_to(job, 1));
    assert!(second.applies_to(job, 2));
    assert!(!second.applies_to(job, 1));
    assert!(!any.applies_to(Ulid::new(), 1));
}
