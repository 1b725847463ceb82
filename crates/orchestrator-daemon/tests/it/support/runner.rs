//! The test's side of the bus: what a forge runner does.

use std::collections::HashMap;
use std::time::Duration;

use bus::{AmqpBus, Bus, Consumer};
use contract::{Event, ForgeKind, JobEvent, JobRequest, JobResult, Origin};
use ulid::Ulid;

pub const RUNNER: &str = "runner-1";
pub const LABEL: &str = "linux-test";
/// How long an event that should come may take, even on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn request(job_key: &str) -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: RUNNER.into(), forge_ref: serde_json::Value::Null };
    JobRequest::new(Ulid::new(), origin, LABEL, job_key)
}

pub async fn bus(url: &str) -> AmqpBus {
    let mut settings = bus::AmqpSettings::new(url);
    settings.reconnect.give_up_after = Duration::from_secs(15);
    AmqpBus::connect(settings).await.expect("connect to RabbitMQ")
}

/// The runner's event stream, sorted by job.
pub struct Events {
    consumer: <AmqpBus as Bus>::EventConsumer,
    pub by_job: HashMap<Ulid, Vec<JobEvent>>,
}

impl Events {
    pub async fn open(bus: &AmqpBus) -> Events {
        Events { consumer: bus.consume_events(RUNNER).await.expect("consume events"), by_job: HashMap::new() }
    }

    /// Waits until `done` holds for the events seen so far, or panics at the deadline.
    pub async fn until(&mut self, what: &str, done: impl Fn(&HashMap<Ulid, Vec<JobEvent>>) -> bool) {
        self.until_within(what, DEADLINE, done).await
    }

    /// [`until`](Self::until) with a deadline of `within` (VM boots under TCG take longer).
    pub async fn until_within(
        &mut self,
        what: &str,
        within: Duration,
        done: impl Fn(&HashMap<Ulid, Vec<JobEvent>>) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + within;
        while !done(&self.by_job) {
            let delivery = match tokio::time::timeout_at(deadline, self.consumer.next()).await {
                Ok(delivery) => delivery.expect("the event consumer works"),
                Err(_) => panic!("waited {within:?} for {what}; saw {:#?}", self.by_job),
            };
            delivery.acker.ack().await.expect("ack an event");
            let event = delivery.payload;
            self.by_job.entry(event.job_id).or_default().push(event);
        }
    }

    /// Waits for the `job_finished` of `job_id` and returns its result and error.
    pub async fn finished(&mut self, job_id: Ulid) -> (JobResult, Option<String>) {
        self.finished_within(job_id, DEADLINE).await
    }

    pub async fn finished_within(&mut self, job_id: Ulid, within: Duration) -> (JobResult, Option<String>) {
        let done = |jobs: &HashMap<Ulid, Vec<JobEvent>>| jobs.get(&job_id).is_some_and(|e| e.iter().any(is_finished));
        self.until_within("job_finished", within, done).await;
        finish_of(&self.by_job[&job_id])
    }

    pub async fn step_started(&mut self, job_id: Ulid) {
        self.step_started_within(job_id, DEADLINE).await
    }

    pub async fn step_started_within(&mut self, job_id: Ulid, within: Duration) {
        self.until_within("step_started", within, |jobs| {
            jobs.get(&job_id).is_some_and(|events| events.iter().any(|e| matches!(e.event, Event::StepStarted { .. })))
        })
        .await;
    }
}

pub fn is_finished(event: &JobEvent) -> bool {
    matches!(event.event, Event::JobFinished { .. })
}

pub fn finish_of(events: &[JobEvent]) -> (JobResult, Option<String>) {
    match events.iter().find(|e| is_finished(e)).map(|e| &e.event) {
        Some(Event::JobFinished { result, error, .. }) => (*result, error.clone()),
        _ => panic!("no job_finished in {events:#?}"),
    }
}

/// The events of one attempt have seq 1..n in order, with exactly one `job_finished`, last.
pub fn check_sequence(events: &[JobEvent]) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected, "seq must run 1..n: {events:#?}");
    assert_eq!(events.iter().filter(|e| is_finished(e)).count(), 1, "one job_finished: {events:#?}");
    assert!(events.last().is_some_and(is_finished), "job_finished last: {events:#?}");
}
