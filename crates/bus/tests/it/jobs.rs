use bus::{Bus, BusError, InProcessBus};

use crate::support::backend::Backend;
use crate::{behaviour, is_no_consumer, labels, next, request, try_next};

behaviour!(
    jobs_are_routed_by_label,
    a_label_nobody_serves_is_an_error,
    zero_credit_and_no_labels_are_refused,
    jobs_arrive_in_publish_order,
    a_waiting_consumer_wakes_on_publish,
    credit_bounds_unacked_deliveries,
    credit_is_per_label,
    an_unacked_job_goes_to_another_consumer_when_the_first_drops,
    nack_with_requeue_puts_the_job_back_first,
    a_slow_consumer_loses_nothing,
);

async fn jobs_are_routed_by_label<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut linux = bus.consume_jobs(&labels(&["linux"]), 10).await.unwrap();
    let mut omnios = backend.another().await.consume_jobs(&labels(&["omnios"]), 10).await.unwrap();
    for key in ["l1", "l2"] {
        bus.publish_job(&request("linux", key)).await.unwrap();
    }
    bus.publish_job(&request("omnios", "o1")).await.unwrap();

    for key in ["l1", "l2"] {
        let delivery = next(&mut linux).await;
        assert_eq!(delivery.payload.job_key, key);
        assert_eq!(delivery.payload.route_label, "linux");
        delivery.acker.ack().await.unwrap();
    }
    let delivery = next(&mut omnios).await;
    assert_eq!(delivery.payload.job_key, "o1");
    delivery.acker.ack().await.unwrap();
    assert!(try_next(&mut linux, backend.quiet()).await.is_none(), "omnios's job went to linux");
    assert!(try_next(&mut omnios, backend.quiet()).await.is_none());
}

async fn a_label_nobody_serves_is_an_error<B: Backend>(backend: B) {
    let bus = backend.bus();
    let error = bus.publish_job(&request("omnios", "build")).await.unwrap_err();
    assert!(is_no_consumer(&error, "omnios"), "{error}");
    assert!(error.to_string().contains("no orchestrator serves label omnios"), "{error}");

    let consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    let error = bus.publish_job(&request("omnios", "build")).await.unwrap_err();
    assert!(is_no_consumer(&error, "omnios"), "{error}");
    bus.publish_job(&request("linux", "build")).await.unwrap();

    // The queue outlives its consumer: the label stays routable and the job waits.
    drop(consumer);
    bus.publish_job(&request("linux", "later")).await.unwrap();
}

async fn zero_credit_and_no_labels_are_refused<B: Backend>(backend: B) {
    let bus = backend.bus();
    assert!(matches!(bus.consume_jobs(&labels(&["linux"]), 0).await, Err(BusError::ZeroCredit)));
    assert!(matches!(bus.consume_jobs(&[], 1).await, Err(BusError::NoLabels)));
}

async fn jobs_arrive_in_publish_order<B: Backend>(backend: B) {
    let bus = backend.bus();
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
    assert!(try_next(&mut consumer, backend.quiet()).await.is_none());
}

async fn a_waiting_consumer_wakes_on_publish<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    let waiter = tokio::spawn(async move {
        let delivery = next(&mut consumer).await;
        delivery.payload.job_key
    });
    tokio::task::yield_now().await;
    bus.publish_job(&request("linux", "late")).await.unwrap();
    assert_eq!(waiter.await.unwrap(), "late");
}

/// The consumer holds at most `credit` unacked deliveries: on RabbitMQ that is the broker's
/// prefetch (the consumer buffers nothing the broker did not send).
async fn credit_bounds_unacked_deliveries<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 2).await.unwrap();
    for i in 0..3 {
        bus.publish_job(&request("linux", &format!("job{i}"))).await.unwrap();
    }
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    assert!(try_next(&mut consumer, backend.quiet()).await.is_none(), "a third delivery beyond credit 2");

    first.acker.ack().await.unwrap();
    let third = next(&mut consumer).await;
    assert_eq!(third.payload.job_key, "job2");
    assert!(try_next(&mut consumer, backend.quiet()).await.is_none());
    second.acker.ack().await.unwrap();
    third.acker.ack().await.unwrap();
}

/// Credit is per label, like RabbitMQ's per-consumer prefetch on each label's queue.
async fn credit_is_per_label<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut both = bus.consume_jobs(&labels(&["linux", "omnios"]), 1).await.unwrap();
    bus.publish_job(&request("linux", "l1")).await.unwrap();
    bus.publish_job(&request("linux", "l2")).await.unwrap();
    bus.publish_job(&request("omnios", "o1")).await.unwrap();

    let mut keys = vec![next(&mut both).await, next(&mut both).await];
    keys.sort_by(|a, b| a.payload.job_key.cmp(&b.payload.job_key));
    assert_eq!(keys[0].payload.job_key, "l1");
    assert_eq!(keys[1].payload.job_key, "o1");
    assert!(try_next(&mut both, backend.quiet()).await.is_none(), "linux's credit 1 is spent");

    let o1 = keys.pop().unwrap();
    o1.acker.ack().await.unwrap();
    assert!(try_next(&mut both, backend.quiet()).await.is_none(), "omnios's credit is not linux's");
    let l1 = keys.pop().unwrap();
    l1.acker.ack().await.unwrap();
    let l2 = next(&mut both).await;
    assert_eq!(l2.payload.job_key, "l2");
    l2.acker.ack().await.unwrap();
}

/// A consumer acks only after it made the job durable; one that goes away before that hands
/// the job to the next consumer, marked redelivered, and its stale acker is refused.
async fn an_unacked_job_goes_to_another_consumer_when_the_first_drops<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut first = bus.consume_jobs(&labels(&["linux"]), 5).await.unwrap();
    for i in 0..3 {
        bus.publish_job(&request("linux", &format!("job{i}"))).await.unwrap();
    }
    let job0 = next(&mut first).await;
    let job1 = next(&mut first).await;
    assert_eq!(job1.payload.job_key, "job1");
    job0.acker.ack().await.unwrap();
    let stale = job1.acker;
    // The first consumer may have been handed job2 as well (its credit allows it); whatever it
    // held comes back when it goes.
    drop(first);

    let mut second = backend.another().await.consume_jobs(&labels(&["linux"]), 5).await.unwrap();
    let again = next(&mut second).await;
    assert_eq!(again.payload.job_key, "job1");
    assert!(again.redelivered);
    let job2 = next(&mut second).await;
    assert_eq!(job2.payload.job_key, "job2");
    again.acker.ack().await.unwrap();
    job2.acker.ack().await.unwrap();
    assert!(try_next(&mut second, backend.quiet()).await.is_none(), "job0 was acked, it must not come back");

    let error = stale.ack().await.unwrap_err();
    assert!(matches!(error, BusError::ConsumerGone { .. }), "{error}");
}

async fn nack_with_requeue_puts_the_job_back_first<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    bus.publish_job(&request("linux", "a")).await.unwrap();
    bus.publish_job(&request("linux", "b")).await.unwrap();
    let a = next(&mut consumer).await;
    assert_eq!(a.payload.job_key, "a");
    a.acker.nack(true).await.unwrap();
    let again = next(&mut consumer).await;
    assert_eq!(again.payload.job_key, "a");
    assert!(again.redelivered);

    again.acker.nack(false).await.unwrap();
    let b = next(&mut consumer).await;
    assert_eq!(b.payload.job_key, "b");
    b.acker.ack().await.unwrap();
    assert!(try_next(&mut consumer, backend.quiet()).await.is_none(), "a rejected job is dead-lettered");
}

async fn a_slow_consumer_loses_nothing<B: Backend>(backend: B) {
    let bus = backend.bus();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    for i in 0..300 {
        bus.publish_job(&request("linux", &format!("job{i}"))).await.unwrap();
    }
    for i in 0..300 {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.payload.job_key, format!("job{i}"));
        delivery.acker.ack().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn the_in_process_bus_counts_queued_and_unacked() {
    let bus = InProcessBus::new();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    bus.publish_job(&request("linux", "a")).await.unwrap();
    bus.publish_job(&request("linux", "b")).await.unwrap();
    let a = next(&mut consumer).await;
    assert_eq!(bus.queued_jobs("linux"), Some(1));
    assert_eq!(bus.queued_jobs("omnios"), None);
    assert_eq!(bus.unacked(), 1);
    a.acker.ack().await.unwrap();
    assert_eq!(bus.unacked(), 0);
}
