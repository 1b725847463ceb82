//! The running host: the orchestrator and one runner task per forge connection on one
//! in-process bus and one store, and how they stop together.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bus::InProcessBus;
use contract::BusKey;
use forgejo::daemon::Deps;
use orchestrator::{Durability, Executor, Orchestrator, OrchestratorConfig};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::serve::ServeError;
use crate::serve::config::ServeConfig;
use crate::serve::github::GithubRegistered;
use crate::serve::registration::Registered;

/// What the orchestrator and the runners share.
pub(super) struct Host {
    pub bus: InProcessBus,
    pub store: Arc<dyn store::Store>,
    pub key: BusKey,
    pub orchestrator_id: String,
}

/// How long the orchestrator lets a job finish once the runners have drained: they cancelled
/// what was left and waited for its end, so what still runs here is stuck.
const ORCHESTRATOR_GRACE: Duration = Duration::from_secs(30);

/// The forge connections, registered.
pub(super) struct Connections {
    pub forgejo: Vec<Registered>,
    pub github: Vec<GithubRegistered>,
}

impl Connections {
    /// Every label a job of these connections may be routed by, once each.
    pub fn labels(&self) -> Vec<String> {
        let forgejo = self.forgejo.iter().flat_map(|r| r.labels.iter());
        let github = self.github.iter().flat_map(|r| r.labels.iter());
        let mut labels: Vec<String> = forgejo.chain(github).cloned().collect();
        labels.sort();
        labels.dedup();
        labels
    }
}

/// Runs the orchestrator on `executor` serving `labels`, and a runner per connection, until
/// `shutdown` or a runner failing for good.
pub(super) async fn serve<E: Executor>(
    host: Host,
    executor: E,
    config: &ServeConfig,
    connections: Connections,
    labels: Vec<String>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let Host { bus, store, key, orchestrator_id } = host;
    let mut orchestrator_config = OrchestratorConfig::new(orchestrator_id.clone(), key.clone());
    // One registry for the orchestrator and the runners, which count into the global one.
    orchestrator_config.metrics = telemetry::global().clone();
    let _metrics = match config.metrics_addr {
        Some(addr) => Some(
            telemetry::Endpoint::start(addr, orchestrator_config.metrics.clone())
                .await
                .map_err(|source| ServeError::Metrics { addr, source })?,
        ),
        None => None,
    };
    let durability = Durability::new(store.clone());
    let orchestrator = Orchestrator::start_durable(bus.clone(), executor, orchestrator_config, durability)
        .await
        .map_err(ServeError::Start)?;
    tracing::info!(id = %orchestrator_id, labels = %labels.join(","), capacity = config.capacity, "orchestrator started");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut runners = JoinSet::new();
    let mut readies = Vec::new();
    let shared = Shared { bus, store, key, stop: stop_rx };
    for registered in connections.forgejo {
        let (ready, ready_rx) = oneshot::channel();
        readies.push(ready_rx);
        runners.spawn(run_forgejo(registered, &shared, ready));
    }
    for registered in connections.github {
        let (ready, ready_rx) = oneshot::channel();
        readies.push(ready_rx);
        runners.spawn(run_github(registered, &shared, ready));
    }

    tokio::pin!(shutdown);
    // The orchestrator serves once every runner follows the slot adverts, so the first advert
    // reaches them all; a runner that failed before that no longer holds its sender.
    let all_ready = async {
        for ready in readies {
            let _ = ready.await;
        }
    };
    let mut failure = None;
    let serving = tokio::select! {
        () = all_ready => Some(orchestrator.serve(&labels, config.capacity).await.map_err(ServeError::Bus)?),
        () = &mut shutdown => None,
        Some(ended) = runners.join_next() => {
            failure = runner_ended(ended);
            None
        }
    };
    if serving.is_some() {
        tracing::info!("serving jobs");
        tokio::select! {
            () = &mut shutdown => {}
            Some(ended) = runners.join_next() => failure = runner_ended(ended),
        }
    }
    let _ = stop_tx.send(true);
    while let Some(ended) = runners.join_next().await {
        let error = runner_ended(ended);
        if failure.is_none() {
            failure = error;
        }
    }
    if let Some(serving) = serving {
        serving.stop_within(ORCHESTRATOR_GRACE).await;
    }
    orchestrator.release_lease().await;
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// What every runner task is started with.
struct Shared {
    bus: InProcessBus,
    store: Arc<dyn store::Store>,
    key: BusKey,
    stop: watch::Receiver<bool>,
}

impl Shared {
    /// Resolves once the host stops.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    }
}

/// One Forgejo connection's runner: the standalone daemon's loop on the host's bus and store.
fn run_forgejo(
    registered: Registered,
    shared: &Shared,
    ready: oneshot::Sender<()>,
) -> impl Future<Output = Result<(), ServeError>> + Send + 'static {
    let Registered { url, config, .. } = registered;
    let deps =
        Deps { bus: shared.bus.clone(), store: shared.store.clone(), bus_key: shared.key.clone(), ready: Some(ready) };
    let stopped = shared.stopped();
    async move {
        forgejo::daemon::run_with_deps(config, deps, stopped)
            .await
            .map_err(|source| ServeError::Forgejo { url, source })
    }
}

/// One GitHub connection's runners: the standalone `github-runner run` loop over the
/// connection's registrations, on the host's bus and store.
fn run_github(
    registered: GithubRegistered,
    shared: &Shared,
    ready: oneshot::Sender<()>,
) -> impl Future<Output = Result<(), ServeError>> + Send + 'static {
    let GithubRegistered { url, settings, .. } = registered;
    let deps = github::daemon::Deps {
        bus: shared.bus.clone(),
        store: shared.store.clone(),
        bus_key: shared.key.clone(),
        ready: Some(ready),
    };
    let stopped = shared.stopped();
    async move {
        github::daemon::run_with(settings, deps, stopped).await.map_err(|source| ServeError::Github { url, source })
    }
}

/// A runner's end: `None` for a clean stop, else the error that ends the host.
fn runner_ended(ended: Result<Result<(), ServeError>, tokio::task::JoinError>) -> Option<ServeError> {
    match ended {
        Ok(Ok(())) => None,
        Ok(Err(error)) => {
            tracing::error!(error = %forgejo::error_chain(&error), "a runner stopped; stopping the host");
            Some(error)
        }
        Err(error) => {
            tracing::error!(%error, "a runner task panicked; stopping the host");
            Some(ServeError::RunnerTask(error))
        }
    }
}
