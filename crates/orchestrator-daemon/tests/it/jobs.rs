//! Jobs through RabbitMQ and PostgreSQL.

use std::time::Duration;

use bus::{Bus, Consumer};
use contract::JobResult;

use crate::support::daemon::{Dirs, InProcess, settings};
use crate::support::runner::{self, Events, check_sequence, request};
use testkit::postgres::TestDatabase;
use testkit::rabbitmq::TestVhost;

#[tokio::test]
async fn a_published_job_arrives_as_sequenced_events_and_is_recorded() {
    let (vhost, db, dirs) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await, Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut slots = bus.subscribe_slots().await.unwrap();
    let daemon = InProcess::start(settings(&vhost.url(), &db.url, dirs.state.path(), dirs.agents.path()));
    let advert = tokio::time::timeout(runner::DEADLINE, slots.next()).await.expect("a slot advert").unwrap();
    assert_eq!(advert.payload.labels.get(runner::LABEL), Some(&2), "both slots free: {:?}", advert.payload);

    let job = request("build");
    publish(&bus, &job).await;
    assert_eq!(events.finished(job.job_id).await, (JobResult::Success, None));
    check_sequence(&events.by_job[&job.job_id]);

    daemon.stop().await.expect("a clean shutdown");
    let store = store::connect(&db.url).await.unwrap();
    let record = store.job(job.job_id).await.unwrap().expect("the job was recorded");
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(record.attempts[0].result, Some(JobResult::Success));
    assert_eq!(store.last_seq(job.job_id, 1).await.unwrap(), events.by_job[&job.job_id].len() as u64);
    store.close().await;
}

#[tokio::test]
async fn two_orchestrators_on_one_label_run_each_job_exactly_once() {
    let (vhost, db) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await);
    let (one, two) = (Dirs::new(), Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let first = InProcess::start(settings(&vhost.url(), &db.url, one.state.path(), one.agents.path()));
    let second = InProcess::start(settings(&vhost.url(), &db.url, two.state.path(), two.agents.path()));

    let jobs: Vec<_> = (0..12).map(|_| request("build")).collect();
    for job in &jobs {
        publish(&bus, job).await;
    }
    events
        .until("every job_finished", |seen| {
            jobs.iter().all(|job| seen.get(&job.job_id).is_some_and(|e| e.iter().any(runner::is_finished)))
        })
        .await;
    first.stop().await.unwrap();
    second.stop().await.unwrap();
    let mut ran_by = std::collections::BTreeMap::new();
    for job in &jobs {
        let seen = &events.by_job[&job.job_id];
        check_sequence(seen);
        let accepted: Vec<_> = seen
            .iter()
            .filter_map(|e| match &e.event {
                contract::Event::Accepted { orchestrator } => Some(orchestrator.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(accepted.len(), 1, "accepted once: {seen:#?}");
        *ran_by.entry(accepted[0].clone()).or_insert(0) += 1;
    }
    assert_eq!(ran_by.values().sum::<i32>(), 12);
}

#[tokio::test]
async fn a_poison_request_is_dead_lettered_and_the_next_job_runs() {
    let (vhost, db, dirs) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await, Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let daemon = InProcess::start(settings(&vhost.url(), &db.url, dirs.state.path(), dirs.agents.path()));

    // Attempt 0 does not exist: the store refuses it, so it can never run anywhere.
    let mut poison = request("build");
    poison.attempt = 0;
    publish(&bus, &poison).await;
    let job = request("build");
    publish(&bus, &job).await;
    assert_eq!(events.finished(job.job_id).await.0, JobResult::Success);
    assert!(!events.by_job.contains_key(&poison.job_id), "the poison request ran: {:#?}", events.by_job);
    let deadline = tokio::time::Instant::now() + runner::DEADLINE;
    while vhost.messages(bus::amqp::DEAD) != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the poison request never reached {}", bus::amqp::DEAD);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.stop().await.unwrap();
}

/// Publishes, retrying while no orchestrator has declared the label's queue yet.
pub async fn publish(bus: &bus::AmqpBus, job: &contract::JobRequest) {
    let deadline = tokio::time::Instant::now() + runner::DEADLINE;
    loop {
        match bus.publish_job(job).await {
            Ok(()) => return,
            Err(bus::BusError::NoConsumer { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("publish a job: {error}"),
        }
    }
}
