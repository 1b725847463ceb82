//! P7: a burst of trivial jobs through RabbitMQ and PostgreSQL, served by two `orchestrator`
//! daemons with the local executor. The bench plays the forge runner: it publishes every
//! JobRequest, then reads its event queue until each job has its `job_finished`, and keeps
//! reading a little longer to catch a second one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bus::{AmqpBus, Bus, Consumer};
use contract::{Event, JobRequest, JobResult};
use ulid::Ulid;

use crate::fleet::{Daemon, Infra, LABEL};

pub struct BurstConfig {
    pub jobs: usize,
    pub orchestrators: usize,
    pub capacity: u32,
    pub timeout: Duration,
    /// How long to keep listening after the last `job_finished`, for duplicates.
    pub linger: Duration,
}

pub fn burst(binary: &Path, config: &BurstConfig) -> Result<()> {
    let infra = Infra::create()?;
    let key = contract::BusKey::generate().context("make a bus key")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let template = trivial_request(&key)?;
    let daemons = (0..config.orchestrators)
        .map(|_| Daemon::start(binary, &infra, key.to_base64().expose(), config.capacity, Duration::from_secs(60)))
        .collect::<Result<Vec<_>>>()?;
    let seen = runtime.block_on(publish_and_wait(&infra, template, config))?;
    drop(daemons);

    let finished: usize = seen.finishes.values().filter(|&&n| n >= 1).count();
    let duplicated: usize = seen.finishes.values().filter(|&&n| n > 1).count();
    let lost = config.jobs - finished;
    let results: BTreeMap<&str, usize> = seen.results.iter().fold(BTreeMap::new(), |mut counts, result| {
        *counts.entry(result.as_str()).or_default() += 1;
        counts
    });
    println!(
        "P7 {} trivial jobs, RabbitMQ + PostgreSQL, {} orchestrators (local executor, capacity {} each), target <= 60 s:",
        config.jobs, config.orchestrators, config.capacity
    );
    println!(
        "  first publish -> last job_finished {:.1} s (publishing took {:.1} s); {finished} finished {results:?}, {lost} lost, {duplicated} duplicated, {} events",
        seen.last_finish.as_secs_f64(),
        seen.published.as_secs_f64(),
        seen.events
    );
    Ok(())
}

struct Seen {
    finishes: HashMap<Ulid, usize>,
    results: Vec<JobResult>,
    events: usize,
    published: Duration,
    last_finish: Duration,
}

async fn publish_and_wait(infra: &Infra, template: JobRequest, config: &BurstConfig) -> Result<Seen> {
    let runner = template.origin.runner_id.clone();
    let mut settings = bus::AmqpSettings::new(infra.amqp_url());
    settings.connection_name = "bench runner".to_owned();
    settings.reconnect.give_up_after = Duration::from_secs(15);
    let bus = AmqpBus::connect(settings).await.context("connect to RabbitMQ")?;
    let mut events = bus.consume_events(&runner).await.context("consume events")?;

    let mut finishes: HashMap<Ulid, usize> = HashMap::with_capacity(config.jobs);
    let started = Instant::now();
    let mut publishing = tokio::task::JoinSet::new();
    for _ in 0..config.jobs {
        let mut request = template.clone();
        request.job_id = Ulid::new();
        finishes.insert(request.job_id, 0);
        let bus = bus.clone();
        publishing.spawn(async move { bus.publish_job(&request).await });
    }
    while let Some(published) = publishing.join_next().await {
        published.context("a publishing task")?.context("publish a job")?;
    }
    let published = started.elapsed();

    let mut seen = Seen { finishes, results: Vec::new(), events: 0, published, last_finish: Duration::ZERO };
    let deadline = tokio::time::Instant::now() + config.timeout;
    let mut done = 0;
    let mut linger_until = None;
    loop {
        let until = linger_until.unwrap_or(deadline);
        let delivery = match tokio::time::timeout_at(until, events.next()).await {
            Ok(delivery) => delivery.context("read events")?,
            Err(_) if linger_until.is_some() => break,
            Err(_) => bail!("only {done} of {} jobs finished within {} s", config.jobs, config.timeout.as_secs()),
        };
        delivery.acker.ack().await.context("ack an event")?;
        seen.events += 1;
        let event = delivery.payload;
        if let Event::JobFinished { result, .. } = event.event {
            seen.results.push(result);
            if let Some(count) = seen.finishes.get_mut(&event.job_id) {
                *count += 1;
                if *count == 1 {
                    done += 1;
                    seen.last_finish = started.elapsed();
                }
            }
            if done == config.jobs && linger_until.is_none() {
                linger_until = Some(tokio::time::Instant::now() + config.linger);
            }
        }
    }
    Ok(seen)
}

/// One job with one `run: 'true'` step; each published copy gets a job id of its own.
fn trivial_request(key: &contract::BusKey) -> Result<JobRequest> {
    crate::request::one_job(LABEL, "      - run: 'true'\n", key)
}
