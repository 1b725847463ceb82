use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bus::{Bus, BusError, Consumer, Delivery, FreeSlots};
use contract::{BusKey, JobRequest, JobResult};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::checkout::WorkspaceSource;
use crate::durable::{self, Admit, Durability, StartError};
use crate::executor::Executor;
use crate::registry::Registry;

/// How often free slots are advertised even when they did not change, so a runner that
/// subscribed late learns them.
const SLOT_ADVERT_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// This orchestrator's stable id, as `accepted` events name it.
    pub id: String,
    /// Opens the requests' secrets; handed to each agent on its stdin.
    pub bus_key: BusKey,
    /// How often a running job sends `heartbeat` (brief §3.2: at least every 15 s).
    pub heartbeat_every: Duration,
    /// How long a cancelled job may take (its `always()` steps) before the agent is killed.
    pub cancel_grace: Duration,
    /// How long the agent may take to exit after `job_finished` before it is killed.
    pub finish_grace: Duration,
    /// The working tree checkouts are served from; `None`: checkouts fail with a clear error.
    pub workspace: Option<WorkspaceSource>,
    /// The time limit of a job whose `timeout-minutes` is not a literal number (the agent
    /// evaluates expressions; this is the forge default of 360 minutes).
    pub default_job_time: Duration,
    /// How long past its time limit a job may run before the orchestrator kills its agent:
    /// the agent enforces the limit itself, this catches an agent that no longer can.
    pub job_time_grace: Duration,
    /// Where jobs, phases and VMs are counted for `/metrics`; the daemon serves it.
    pub metrics: telemetry::Registry,
}

impl OrchestratorConfig {
    pub fn new(id: impl Into<String>, bus_key: BusKey) -> Self {
        OrchestratorConfig {
            id: id.into(),
            bus_key,
            heartbeat_every: Duration::from_secs(10),
            cancel_grace: Duration::from_secs(300),
            finish_grace: Duration::from_secs(30),
            workspace: None,
            default_job_time: Duration::from_secs(360 * 60),
            job_time_grace: Duration::from_secs(5 * 60),
            metrics: telemetry::Registry::new(),
        }
    }
}

/// Takes JobRequests from the bus and runs them on an executor. Cheap to clone.
pub struct Orchestrator<B: Bus, E: Executor> {
    inner: Arc<Inner<B, E>>,
    _cancel_watch: Arc<AbortOnDrop>,
}

impl<B: Bus, E: Executor> Clone for Orchestrator<B, E> {
    fn clone(&self) -> Self {
        Orchestrator { inner: self.inner.clone(), _cancel_watch: self._cancel_watch.clone() }
    }
}

pub(crate) struct Inner<B, E> {
    pub bus: B,
    pub executor: E,
    pub config: OrchestratorConfig,
    /// `None`: the in-process orchestrator of `solstice run`, which keeps nothing durable.
    pub durable: Option<Durability>,
    registry: Mutex<Registry>,
}

impl<B, E> Inner<B, E> {
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl<B: Bus, E: Executor> Orchestrator<B, E> {
    /// Subscribes to cancels (before any job is taken, so none is missed) and returns the
    /// orchestrator ready to [`serve`](Self::serve).
    pub async fn start(bus: B, executor: E, config: OrchestratorConfig) -> Result<Self, BusError> {
        let cancels = bus.subscribe_cancels().await?;
        let inner = Arc::new(Inner { bus, executor, config, durable: None, registry: Mutex::default() });
        let span = tracing::info_span!("orchestrator", id = %inner.config.id);
        let watch = tokio::spawn(watch_cancels(inner.clone(), cancels).instrument(span));
        Ok(Orchestrator { inner, _cancel_watch: Arc::new(AbortOnDrop(vec![watch])) })
    }

    /// The distributed orchestrator (brief §3.5): takes its lease in the store, fails the
    /// attempts its previous incarnation started (their agents died with it), consumes its own
    /// cancel queue (cancels sent while it was away wait there), and from then on renews the
    /// lease and takes over the started attempts of peers whose lease expired.
    pub async fn start_durable(
        bus: B,
        executor: E,
        config: OrchestratorConfig,
        durability: Durability,
    ) -> Result<Self, StartError> {
        let store = durability.store.clone();
        let id = config.id.clone();
        store
            .heartbeat(&id, time::OffsetDateTime::now_utc(), durable::ttl(durability.lease_ttl))
            .await
            .map_err(StartError::Store)?;
        let cancels = bus.consume_cancels(&id).await.map_err(StartError::Bus)?;
        let inner = Arc::new(Inner { bus, executor, config, durable: Some(durability), registry: Mutex::default() });
        durable::reconcile(&inner).await.map_err(StartError::Store)?;
        let span = tracing::info_span!("orchestrator", id = %inner.config.id);
        let watch = tokio::spawn(watch_cancels(inner.clone(), cancels).instrument(span.clone()));
        let lease = tokio::spawn(durable::keep_lease(inner.clone()).instrument(span));
        Ok(Orchestrator { inner, _cancel_watch: Arc::new(AbortOnDrop(vec![watch, lease])) })
    }

    /// This orchestrator's id.
    pub fn id(&self) -> &str {
        &self.inner.config.id
    }

    /// Lets the lease expire now (a clean shutdown), so peers may take over at once whatever
    /// is left unfinished. No-op without a store.
    pub async fn release_lease(&self) {
        let Some(durable) = &self.inner.durable else { return };
        if let Err(error) = durable.store.release_lease(&self.inner.config.id, time::OffsetDateTime::now_utc()).await {
            tracing::warn!(%error, "releasing the lease failed; peers take over once it expires");
        }
    }

    /// Consumes the queues of `labels`, running up to `credit` jobs at once (over all labels),
    /// and advertises the free slots. Each request is acked when its job has finished, so the
    /// bus's credit is the free slots; with a store, the job and its attempt are recorded
    /// before anything runs, and so before the ack.
    pub async fn serve(&self, labels: &[String], credit: u32) -> Result<Serving, BusError> {
        let consumer = self.inner.bus.consume_jobs(labels, credit).await?;
        let (stop, stopped) = oneshot::channel();
        let span = tracing::info_span!("serve", id = %self.inner.config.id, labels = %labels.join(","));
        let task = tokio::spawn(serve(self.clone(), consumer, labels.to_vec(), credit, stopped).instrument(span));
        Ok(Serving { stop, task })
    }

    /// Handles one delivered request to its end and settles the delivery: acked once the job
    /// is finished (or was settled without running), given back when the store cannot say
    /// yet, dead-lettered when it can never run.
    pub async fn take(&self, delivery: Delivery<JobRequest>) {
        let Delivery { payload: request, acker, redelivered } = delivery;
        let job_id = request.job_id;
        let admit = if request.schema_version > contract::SCHEMA_VERSION {
            Admit::Reject(format!(
                "schema version {} is newer than this orchestrator's {}",
                request.schema_version,
                contract::SCHEMA_VERSION
            ))
        } else if self.inner.durable.is_some() {
            durable::admit(&self.inner, &request, redelivered).await
        } else {
            Admit::Run
        };
        let settled = match admit {
            Admit::Run => {
                self.run_job(request).await;
                acker.ack().await
            }
            Admit::Settled => acker.ack().await,
            Admit::Requeue => acker.nack(true).await,
            Admit::Reject(reason) => {
                tracing::error!(%job_id, %reason, "dead-lettering a job request that can never run");
                acker.nack(false).await
            }
        };
        if let Err(error) = settled {
            tracing::warn!(%job_id, %error, "settling the job request failed");
        }
    }

    /// Whether a cancel for `job_id` reached this orchestrator.
    pub fn is_tombstoned(&self, job_id: ulid::Ulid) -> bool {
        self.inner.registry().is_tombstoned(job_id)
    }

    /// Runs one request to its end, publishing its events, and returns the job's result.
    pub async fn run_job(&self, request: JobRequest) -> JobResult {
        let span = tracing::info_span!(
            "job",
            job_id = %request.job_id,
            attempt = request.attempt,
            runner = %request.origin.runner_id,
        );
        crate::job::run(&self.inner, request).instrument(span).await
    }
}

/// A running [`Orchestrator::serve`].
#[derive(Debug)]
pub struct Serving {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Serving {
    /// Stops taking jobs, waits for the running ones to finish, then gives the queues up.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the serve task failed");
        }
    }

    /// [`stop`](Self::stop), but jobs still running after `grace` are killed: their attempts
    /// stay started, and the next start (or a peer) fails them with a clear message.
    pub async fn stop_within(self, grace: Duration) {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "the serve task failed"),
            Err(_) => {
                tracing::warn!(grace_secs = grace.as_secs(), "jobs still running after the shutdown grace are killed");
                task.abort();
                let _ = task.await;
            }
        }
    }

    /// Whether serving ended by itself (the bus failed for good).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

async fn serve<B: Bus, E: Executor>(
    orchestrator: Orchestrator<B, E>,
    mut consumer: B::JobConsumer,
    labels: Vec<String>,
    credit: u32,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut jobs = JoinSet::new();
    let mut advert = tokio::time::interval(SLOT_ADVERT_EVERY);
    let mut advertised = None;
    loop {
        let free = credit.saturating_sub(u32::try_from(jobs.len()).unwrap_or(u32::MAX));
        if advertised != Some(free) {
            advertise(&orchestrator, &labels, free).await;
            advertised = Some(free);
        }
        tokio::select! {
            _ = &mut stopped => break,
            // Only with a free slot: the consumer's credit is per label, the slots are shared.
            delivery = consumer.next(), if free > 0 => match delivery {
                Ok(delivery) => {
                    let orchestrator = orchestrator.clone();
                    jobs.spawn(async move { orchestrator.take(delivery).await }.in_current_span());
                }
                Err(error) => {
                    tracing::error!(%error, "consuming jobs failed");
                    break;
                }
            },
            Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
            _ = advert.tick() => advertised = None,
        }
    }
    advertise(&orchestrator, &labels, 0).await;
    while jobs.join_next().await.is_some() {}
}

async fn advertise<B: Bus, E: Executor>(orchestrator: &Orchestrator<B, E>, labels: &[String], free: u32) {
    let slots = FreeSlots {
        orchestrator_id: orchestrator.inner.config.id.clone(),
        labels: labels.iter().map(|label| (label.clone(), free)).collect(),
    };
    if let Err(error) = orchestrator.inner.bus.publish_slots(&slots).await {
        tracing::warn!(%error, "advertising free slots failed");
    }
}

/// Records every cancel as a tombstone (in the store first, when there is one), acks it, then
/// tells the running job.
async fn watch_cancels<B: Bus, E>(inner: Arc<Inner<B, E>>, mut cancels: B::CancelConsumer) {
    loop {
        match cancels.next().await {
            Ok(delivery) => {
                let cancel = &delivery.payload;
                if let Some(durable) = &inner.durable {
                    let now = time::OffsetDateTime::now_utc();
                    let scope = store::TombstoneScope::from(cancel.attempt);
                    if let Err(error) = durable.store.add_tombstone(cancel.job_id, scope, &cancel.reason, now).await {
                        tracing::error!(job_id = %cancel.job_id, %error, "recording a tombstone failed; the cancel goes back");
                        if let Err(error) = delivery.acker.nack(true).await {
                            tracing::warn!(%error, "giving a cancel back failed");
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
                let cancel = delivery.payload.clone();
                if let Err(error) = delivery.acker.ack().await {
                    tracing::warn!(%error, "acking a cancel failed");
                }
                let told = inner.registry().cancel(&cancel);
                tracing::info!(job_id = %cancel.job_id, running_here = told, "cancel recorded");
            }
            Err(error) => {
                tracing::error!(%error, "consuming cancels failed; cancels no longer reach this orchestrator");
                return;
            }
        }
    }
}
