use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bus::{Bus, BusError, Consumer};
use contract::{BusKey, JobRequest, JobResult};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::checkout::WorkspaceSource;
use crate::executor::Executor;
use crate::registry::Registry;

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
    registry: Mutex<Registry>,
}

impl<B, E> Inner<B, E> {
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<B: Bus, E: Executor> Orchestrator<B, E> {
    /// Subscribes to cancels (before any job is taken, so none is missed) and returns the
    /// orchestrator ready to [`serve`](Self::serve).
    pub async fn start(bus: B, executor: E, config: OrchestratorConfig) -> Result<Self, BusError> {
        let cancels = bus.subscribe_cancels().await?;
        let inner = Arc::new(Inner { bus, executor, config, registry: Mutex::default() });
        let span = tracing::info_span!("orchestrator", id = %inner.config.id);
        let watch = tokio::spawn(watch_cancels(inner.clone(), cancels).instrument(span));
        Ok(Orchestrator { inner, _cancel_watch: Arc::new(AbortOnDrop(watch)) })
    }

    /// Consumes the queues of `labels`, running up to `credit` jobs at once. Each request is
    /// acked when its job has finished: the in-process orchestrator keeps no durable record, so
    /// a job is done on its side only then.
    pub async fn serve(&self, labels: &[String], credit: u32) -> Result<Serving, BusError> {
        let consumer = self.inner.bus.consume_jobs(labels, credit).await?;
        let (stop, stopped) = oneshot::channel();
        let span = tracing::info_span!("serve", id = %self.inner.config.id, labels = %labels.join(","));
        let task = tokio::spawn(serve(self.clone(), consumer, stopped).instrument(span));
        Ok(Serving { stop, task })
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
}

async fn serve<B: Bus, E: Executor>(
    orchestrator: Orchestrator<B, E>,
    mut consumer: B::JobConsumer,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut jobs = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            delivery = consumer.next() => match delivery {
                Ok(delivery) => {
                    let orchestrator = orchestrator.clone();
                    jobs.spawn(async move {
                        let job_id = delivery.payload.job_id;
                        orchestrator.run_job(delivery.payload).await;
                        if let Err(error) = delivery.acker.ack().await {
                            tracing::warn!(%job_id, %error, "acking the job request failed");
                        }
                    }.in_current_span());
                }
                Err(error) => {
                    tracing::error!(%error, "consuming jobs failed");
                    break;
                }
            },
            Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
        }
    }
    while jobs.join_next().await.is_some() {}
}

/// Records every cancel as a tombstone and tells the running job, then acks it.
async fn watch_cancels<B: Bus, E>(inner: Arc<Inner<B, E>>, mut cancels: B::CancelConsumer) {
    loop {
        match cancels.next().await {
            Ok(delivery) => {
                let told = inner.registry().cancel(&delivery.payload);
                tracing::info!(job_id = %delivery.payload.job_id, running_here = told, "cancel recorded");
                if let Err(error) = delivery.acker.ack().await {
                    tracing::warn!(%error, "acking a cancel failed");
                }
            }
            Err(error) => {
                tracing::error!(%error, "consuming cancels failed; cancels no longer reach this orchestrator");
                return;
            }
        }
    }
}
