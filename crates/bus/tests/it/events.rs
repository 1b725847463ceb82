use bus::{Arrival, Bus, EventOrder};
use ulid::Ulid;

use crate::support::backend::Backend;
use crate::{behaviour, event, next, try_next};

behaviour!(events_wait_for_their_runner_in_order, unacked_events_survive_a_consumer_restart);

async fn events_wait_for_their_runner_in_order<B: Backend>(backend: B) {
    let bus = backend.bus();
    let job = Ulid::new();
    // Published before the runner ever consumed: the queue is created by whoever comes first.
    for seq in 1..=5 {
        bus.publish_event("runner-a", &event(job, seq)).await.unwrap();
    }
    bus.publish_event("runner-b", &event(job, 99)).await.unwrap();

    let mut a = bus.consume_events("runner-a").await.unwrap();
    for seq in 1..=5 {
        let delivery = next(&mut a).await;
        assert_eq!(delivery.payload.seq, seq);
        delivery.acker.ack().await.unwrap();
    }
    assert!(try_next(&mut a, backend.quiet()).await.is_none(), "runner-b's event went to runner-a");
    let mut b = bus.consume_events("runner-b").await.unwrap();
    assert_eq!(next(&mut b).await.payload.seq, 99);
}

/// A runner that restarts finds its queue with what it had not acked, first, then the rest.
async fn unacked_events_survive_a_consumer_restart<B: Backend>(backend: B) {
    let bus = backend.bus();
    let job = Ulid::new();
    let mut first = backend.another().await.consume_events("runner-a").await.unwrap();
    for seq in 1..=3 {
        bus.publish_event("runner-a", &event(job, seq)).await.unwrap();
    }
    let one = next(&mut first).await;
    one.acker.ack().await.unwrap();
    let _two = next(&mut first).await;
    drop(first);
    bus.publish_event("runner-a", &event(job, 4)).await.unwrap();

    let mut second = backend.another().await.consume_events("runner-a").await.unwrap();
    let two = next(&mut second).await;
    assert_eq!(two.payload.seq, 2);
    assert!(two.redelivered);
    two.acker.ack().await.unwrap();
    for seq in 3..=4 {
        let delivery = next(&mut second).await;
        assert_eq!(delivery.payload.seq, seq);
        delivery.acker.ack().await.unwrap();
    }
    assert!(try_next(&mut second, backend.quiet()).await.is_none(), "an acked event came back");
}

#[test]
fn event_order_takes_the_next_drops_duplicates_and_reports_gaps() {
    let (job, other) = (Ulid::new(), Ulid::new());
    let mut order = EventOrder::default();
    let second_attempt = |seq| contract::JobEvent { attempt: 2, ..event(job, seq) };
    let cases = [
        (event(job, 1), Arrival::Next),
        (event(job, 1), Arrival::Duplicate),
        (event(job, 2), Arrival::Next),
        (event(job, 4), Arrival::Gap { expected: 3 }),
        (event(job, 3), Arrival::Next),
        (event(other, 1), Arrival::Next),
        (second_attempt(1), Arrival::Next),
        (event(job, 2), Arrival::Duplicate),
    ];
    for (event, expected) in cases {
        assert_eq!(order.arrive(&event), expected, "job {} attempt {} seq {}", event.job_id, event.attempt, event.seq);
    }
}
