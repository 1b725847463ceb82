use bus::{Bus, InProcessBus};
use contract::{Event, JobEvent};
use ulid::Ulid;

use crate::{next, try_next};

fn event(job_id: Ulid, seq: u64) -> JobEvent {
    JobEvent { job_id, attempt: 1, seq, at: contract::now(), event: Event::Heartbeat }
}

#[tokio::test(start_paused = true)]
async fn events_wait_for_their_runner_in_order() {
    let bus = InProcessBus::new();
    let job = Ulid::new();
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
    assert!(try_next(&mut a).await.is_none(), "runner-b's event went to runner-a");
}

#[tokio::test(start_paused = true)]
async fn unacked_events_come_back_to_the_next_consumer() {
    let bus = InProcessBus::new();
    let job = Ulid::new();
    let mut first = bus.consume_events("runner-a").await.unwrap();
    bus.publish_event("runner-a", &event(job, 1)).await.unwrap();
    bus.publish_event("runner-a", &event(job, 2)).await.unwrap();
    let one = next(&mut first).await;
    one.acker.ack().await.unwrap();
    let _two = next(&mut first).await;
    drop(first);

    let mut second = bus.consume_events("runner-a").await.unwrap();
    let two = next(&mut second).await;
    assert_eq!(two.payload.seq, 2);
    assert!(two.redelivered);
}
