use bus::{Bus, BusError, InProcessBus};

use crate::{is_no_consumer, next, request, try_next};

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_label_nobody_serves_is_an_error() {
    let bus = InProcessBus::new();
    let error = bus.publish_job(&request("omnios", "build")).await.unwrap_err();
    assert!(is_no_consumer(&error, "omnios"), "{error}");
    assert!(error.to_string().contains("no orchestrator serves label omnios"), "{error}");

    let _consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    let error = bus.publish_job(&request("omnios", "build")).await.unwrap_err();
    assert!(is_no_consumer(&error, "omnios"), "{error}");
    bus.publish_job(&request("linux", "build")).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn zero_credit_and_no_labels_are_refused() {
    let bus = InProcessBus::new();
    assert!(matches!(bus.consume_jobs(&labels(&["linux"]), 0).await, Err(BusError::ZeroCredit)));
    assert!(matches!(bus.consume_jobs(&[], 1).await, Err(BusError::NoLabels)));
}

#[tokio::test(start_paused = true)]
async fn jobs_arrive_in_publish_order() {
    let bus = InProcessBus::new();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 100).await.unwrap();
    let sent: Vec<_> = (0..20).map(|i| request("linux", &format!("job{i}"))).collect();
    for r in &sent {
        bus.publish_job(r).await.unwrap();
    }
    for r in &sent {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.payload.job_id, r.job_id);
        assert!(!delivery.redelivered);
        delivery.acker.ack().await.unwrap();
    }
    assert!(try_next(&mut consumer).await.is_none());
    assert_eq!(bus.unacked(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_consumer_wakes_on_publish() {
    let bus = InProcessBus::new();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    let waiter = tokio::spawn(async move {
        let delivery = bus::Consumer::next(&mut consumer).await.unwrap();
        delivery.payload.job_key
    });
    tokio::task::yield_now().await;
    bus.publish_job(&request("linux", "late")).await.unwrap();
    assert_eq!(waiter.await.unwrap(), "late");
}

#[tokio::test(start_paused = true)]
async fn credit_bounds_unacked_deliveries() {
    let bus = InProcessBus::new();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 2).await.unwrap();
    for i in 0..3 {
        bus.publish_job(&request("linux", &format!("job{i}"))).await.unwrap();
    }
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    assert!(try_next(&mut consumer).await.is_none(), "a third delivery beyond credit 2");
    assert_eq!(bus.queued_jobs("linux"), Some(1));

    first.acker.ack().await.unwrap();
    let third = next(&mut consumer).await;
    assert_eq!(third.payload.job_key, "job2");
    assert!(try_next(&mut consumer).await.is_none());
    second.acker.ack().await.unwrap();
    third.acker.ack().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn credit_is_per_consumer_and_spans_its_labels() {
    let bus = InProcessBus::new();
    let mut both = bus.consume_jobs(&labels(&["linux", "omnios"]), 1).await.unwrap();
    let mut other = bus.consume_jobs(&labels(&["omnios"]), 1).await.unwrap();
    bus.publish_job(&request("linux", "a")).await.unwrap();
    bus.publish_job(&request("omnios", "b")).await.unwrap();

    let a = next(&mut both).await;
    assert_eq!(a.payload.job_key, "a");
    assert!(try_next(&mut both).await.is_none(), "credit 1 is spent");
    let b = next(&mut other).await;
    assert_eq!(b.payload.job_key, "b");
    a.acker.ack().await.unwrap();
    b.acker.ack().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn unacked_jobs_are_redelivered_when_the_consumer_goes() {
    let bus = InProcessBus::new();
    let mut first = bus.consume_jobs(&labels(&["linux"]), 5).await.unwrap();
    for i in 0..3 {
        bus.publish_job(&request("linux", &format!("job{i}"))).await.unwrap();
    }
    let job0 = next(&mut first).await;
    let job1 = next(&mut first).await;
    job0.acker.ack().await.unwrap();
    let stale = job1.acker;
    drop(first);

    // The queue outlives its consumers (it is durable); job1 comes back first, then job2.
    let mut second = bus.consume_jobs(&labels(&["linux"]), 5).await.unwrap();
    let again = next(&mut second).await;
    assert_eq!(again.payload.job_key, "job1");
    assert!(again.redelivered);
    let job2 = next(&mut second).await;
    assert_eq!(job2.payload.job_key, "job2");
    assert!(!job2.redelivered);

    let error = stale.ack().await.unwrap_err();
    assert!(matches!(error, BusError::ConsumerGone { .. }), "{error}");
}

#[tokio::test(start_paused = true)]
async fn nack_with_requeue_puts_the_job_back_first() {
    let bus = InProcessBus::new();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 5).await.unwrap();
    bus.publish_job(&request("linux", "a")).await.unwrap();
    bus.publish_job(&request("linux", "b")).await.unwrap();
    let a = next(&mut consumer).await;
    a.acker.nack(true).await.unwrap();
    let again = next(&mut consumer).await;
    assert_eq!(again.payload.job_key, "a");
    assert!(again.redelivered);

    again.acker.nack(false).await.unwrap();
    let b = next(&mut consumer).await;
    assert_eq!(b.payload.job_key, "b");
    b.acker.ack().await.unwrap();
    assert!(try_next(&mut consumer).await.is_none(), "a rejected job is dead-lettered");
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_loses_nothing() {
    let bus = InProcessBus::new();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    for i in 0..1000 {
        bus.publish_job(&request("linux", &format!("job{i}"))).await.unwrap();
    }
    for i in 0..1000 {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.payload.job_key, format!("job{i}"));
        delivery.acker.ack().await.unwrap();
    }
}
