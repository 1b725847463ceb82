//! What only a broker has: poison messages, the delivery limit, the declared topology, and
//! connection loss (through a proxy the test cuts).

use std::process::Command;
use std::time::Duration;

use bus::amqp::{DEAD, JOBS, REASON_HEADER, Reconnect, SOURCE_QUEUE_HEADER};
use bus::{AmqpBus, Arrival, Bus, BusError, EventOrder};
use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use ulid::Ulid;

use crate::support::backend::{Amqp, Backend, test_settings};
use crate::{DEADLINE, event, labels, next, request, try_next};
use testkit::proxy::Proxy;
use testkit::rabbitmq::{BROKER, TestVhost};

/// A plain lapin channel on the test's vhost, to do what the bus never does.
async fn raw_channel(vhost: &TestVhost) -> (Connection, Channel) {
    let connection = Connection::connect(&vhost.url(), ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    (connection, channel)
}

/// The next dead letter, waiting for it with a deadline.
async fn dead_letter(channel: &Channel) -> lapin::message::BasicGetMessage {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(message) = channel.basic_get(DEAD.into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            return message;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dead letter within {DEADLINE:?}");
        // basic.get cannot wait; poll the queue, slowly enough not to spin.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header(headers: &Option<FieldTable>, name: &str) -> Option<String> {
    match headers.as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        other => Some(format!("{other:?}")),
    }
}

#[tokio::test]
async fn a_poison_job_is_dead_lettered_with_its_reason_and_the_consumer_goes_on() {
    let backend = Amqp::start().await;
    let bus = backend.bus();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    let (_connection, raw) = raw_channel(backend.vhost()).await;
    raw.basic_publish(
        JOBS.into(),
        "linux".into(),
        BasicPublishOptions::default(),
        b"{not json",
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    bus.publish_job(&request("linux", "good")).await.unwrap();

    let good = next(&mut consumer).await;
    assert_eq!(good.payload.job_key, "good");
    good.acker.ack().await.unwrap();

    let dead = dead_letter(&raw).await;
    assert_eq!(dead.delivery.data, b"{not json");
    let headers = dead.delivery.properties.headers();
    let reason = header(headers, REASON_HEADER).expect("a reason header");
    assert!(reason.starts_with("unreadable message: "), "{reason}");
    assert_eq!(header(headers, SOURCE_QUEUE_HEADER).as_deref(), Some("solstice.jobs.linux"));
    assert!(try_next(&mut consumer, backend.quiet()).await.is_none());
}

#[tokio::test]
async fn a_job_over_its_delivery_limit_is_dead_lettered() {
    let vhost = TestVhost::create();
    let mut settings = test_settings(vhost.url());
    settings.job_delivery_limit = 1;
    let bus = AmqpBus::connect(settings).await.unwrap();
    let mut consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    let job = request("linux", "crashy");
    bus.publish_job(&job).await.unwrap();

    // Each orchestrator that takes it dies before acking (here: gives it back).
    let first = next(&mut consumer).await;
    first.acker.nack(true).await.unwrap();
    let second = next(&mut consumer).await;
    assert!(second.redelivered);
    second.acker.nack(true).await.unwrap();
    assert!(try_next(&mut consumer, Duration::from_millis(300)).await.is_none(), "delivered beyond the limit");

    let (_connection, raw) = raw_channel(&vhost).await;
    let dead = dead_letter(&raw).await;
    let payload: contract::JobRequest = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(payload.job_id, job.job_id);
    let headers = dead.delivery.properties.headers().as_ref().expect("x-death headers");
    assert!(headers.contains_key("x-death"), "{headers:?}");
}

#[tokio::test]
async fn the_topology_is_the_one_of_the_brief() {
    let backend = Amqp::start().await;
    let bus = backend.bus();
    let _jobs = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    let _events = bus.consume_events("runner-1").await.unwrap();
    let _cancels = bus.subscribe_cancels().await.unwrap();
    let _slots = bus.subscribe_slots().await.unwrap();
    let vhost = &backend.vhost().name;

    let exchanges = rabbitmqctl(&["list_exchanges", "-p", vhost, "name", "type", "durable"]);
    for line in [
        "solstice.jobs\tdirect\ttrue",
        "solstice.events\tdirect\ttrue",
        "solstice.cancel\tfanout\ttrue",
        "solstice.slots\tfanout\ttrue",
        "solstice.dlx\tfanout\ttrue",
    ] {
        assert!(exchanges.lines().any(|l| l == line), "no exchange {line:?} in\n{exchanges}");
    }
    let listing = rabbitmqctl(&["list_queues", "-p", vhost, "name", "type", "durable", "exclusive", "arguments"]);
    // Columns: name, type, durable, exclusive (empty for quorum queues), arguments.
    let queues: Vec<Vec<&str>> = listing.lines().map(|l| l.split('\t').collect()).collect();
    let queue = |prefix: &str| {
        queues.iter().find(|q| q[0].starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in\n{listing}"))
    };
    for (name, arguments) in [
        ("solstice.jobs.linux", &["x-delivery-limit", "\"x-dead-letter-exchange\",\"solstice.dlx\""][..]),
        ("solstice.events.runner-1", &["\"x-dead-letter-exchange\",\"solstice.dlx\""][..]),
        ("solstice.cancel.", &["x-expires", "\"x-dead-letter-exchange\",\"solstice.dlx\""][..]),
        ("solstice.dead", &[][..]),
    ] {
        let q = queue(name);
        assert_eq!((q[1], q[2]), ("quorum", "true"), "{name}: {q:?}");
        for argument in arguments {
            assert!(q[4].contains(argument), "{name} lacks {argument}: {q:?}");
        }
    }
    // Everything not durable is exclusive (RabbitMQ 4 has no transient non-exclusive queues).
    for q in &queues {
        assert!(q[2] == "true" || q[3] == "true", "a transient non-exclusive queue: {q:?}");
    }
}

fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl").args(["-q", "--no-table-headers"]).args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The connection of publisher and consumer is cut mid-stream; both reconnect, the publish in
/// flight is sent again, the consumer subscribes again and gets back what it had not acked.
/// After dropping duplicates every event arrived exactly once, in order.
#[tokio::test]
async fn every_event_arrives_across_a_connection_cut() {
    const EVENTS: u64 = 300;
    let vhost = TestVhost::create();
    let proxy = Proxy::start(BROKER).await;
    let publisher = AmqpBus::connect(test_settings(vhost.url_on(proxy.port()))).await.unwrap();
    let subscriber = AmqpBus::connect(test_settings(vhost.url_on(proxy.port()))).await.unwrap();
    let mut events = subscriber.consume_events("runner-cut").await.unwrap();

    let job = Ulid::new();
    let publishing = tokio::spawn(async move {
        for seq in 1..=EVENTS {
            publisher.publish_event("runner-cut", &event(job, seq)).await.unwrap();
        }
    });

    let mut order = EventOrder::default();
    let mut taken = Vec::new();
    let mut duplicates = 0;
    let mut cut = false;
    while taken.len() < EVENTS as usize {
        let delivery = next(&mut events).await;
        assert_eq!(delivery.payload.job_id, job);
        match order.arrive(&delivery.payload) {
            Arrival::Next => taken.push(delivery.payload.seq),
            Arrival::Duplicate => duplicates += 1,
            Arrival::Gap { expected } => panic!("a gap: {} came when {expected} was due", delivery.payload.seq),
        }
        // An ack on a channel the cut closed fails; the broker delivers the event again.
        let _ = delivery.acker.ack().await;
        if !cut && taken.len() == EVENTS as usize / 3 {
            proxy.cut();
            proxy.refused_one().await;
            proxy.restore();
            cut = true;
        }
    }
    publishing.await.unwrap();
    assert!(cut);
    assert_eq!(taken, (1..=EVENTS).collect::<Vec<_>>());
    // Once everything was acked, nothing new comes: duplicates at most.
    while let Some(delivery) = try_next(&mut events, Duration::from_millis(300)).await {
        assert_eq!(order.arrive(&delivery.payload), Arrival::Duplicate, "an event beyond the last");
        delivery.acker.ack().await.unwrap();
    }
    eprintln!("{EVENTS} events across a cut, {duplicates} duplicates dropped");
}

#[tokio::test]
async fn a_broker_that_stays_away_is_unavailable_after_retries() {
    let vhost = TestVhost::create();
    let proxy = Proxy::start(BROKER).await;
    let mut settings = test_settings(vhost.url_on(proxy.port()));
    settings.reconnect = Reconnect {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        give_up_after: Duration::from_secs(1),
    };
    let bus = AmqpBus::connect(settings.clone()).await.unwrap();
    let _consumer = bus.consume_jobs(&labels(&["linux"]), 1).await.unwrap();
    proxy.cut();

    let error = bus.publish_job(&request("linux", "never")).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("reach the broker at 127.0.0.1:"), "{message}");
    assert!(!message.contains("guest"), "credentials in {message}");
    // The outage's budget is spent for every user of the connection: the next publish tries
    // once more and gives up, rather than starting a budget of its own.
    let error = bus.publish_job(&request("linux", "never")).await.unwrap_err();
    match &error {
        BusError::Unavailable { attempts, waited, .. } => {
            assert_eq!(*attempts, 1, "{error}");
            assert!(*waited >= Duration::from_secs(1), "counted from the outage's start: {error}");
        }
        other => panic!("expected unavailable, got {other}"),
    }
    let error = AmqpBus::connect(settings).await.err().expect("connected to a cut proxy");
    assert!(matches!(error, BusError::Unavailable { .. }), "{error}");
}

/// An orchestrator created the runner's queue (an event came first) without `x-expires`; the
/// ephemeral runner that wants one uses the queue as it is instead of failing.
#[tokio::test]
async fn an_ephemeral_runner_takes_over_a_queue_declared_without_expiry() {
    let backend = Amqp::start().await;
    let job = Ulid::new();
    backend.bus().publish_event("runner-e", &event(job, 1)).await.unwrap();

    let mut settings = test_settings(backend.vhost().url());
    settings.event_queue_expiry = Some(Duration::from_secs(600));
    let runner = AmqpBus::connect(settings).await.unwrap();
    let mut events = runner.consume_events("runner-e").await.unwrap();
    let delivery = next(&mut events).await;
    assert_eq!(delivery.payload.seq, 1);
    delivery.acker.ack().await.unwrap();
    backend.bus().publish_event("runner-e", &event(job, 2)).await.unwrap();
    assert_eq!(next(&mut events).await.payload.seq, 2);
}

#[test]
fn settings_never_show_the_password_and_reject_a_non_amqp_url() {
    let settings = bus::AmqpSettings::new("amqp://solstice:hunter2@broker.example:5673/ci");
    assert_eq!(settings.broker(), "broker.example:5673/ci");
    let debug = format!("{settings:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    settings.validate().unwrap();

    let error = bus::AmqpSettings::new("http://broker.example").validate().unwrap_err();
    assert!(matches!(error, BusError::Config { .. }), "{error}");
    assert!(error.to_string().starts_with("configure the bus: SOLSTICE_AMQP_URL is not an AMQP URL"), "{error}");
}
