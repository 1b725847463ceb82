//! `github-runner run`: every registration under `<state dir>/github/` at work at once — one
//! broker session each, one job at a time each (issue 5 §2: `--count N` makes N of them), all
//! of them together taking no more jobs than the orchestrators advertise free VM slots for.
//!
//! Each job goes: `RunnerJobRequest` (acknowledged by the listener) → acquirejob → renewjob →
//! translate → state saved in the store → JobRequest published on the bus → the job's events
//! into its report (acked only once saved) while the lease is renewed and GitHub's cancellation
//! relayed → completejob → state removed ([`job`]). Saved jobs are resumed at start (issue 5
//! §9). SIGTERM: no new jobs, running ones may finish for `shutdown_timeout`, then they are
//! cancelled; sessions are deleted.
//!
//! [`run_with`] is the loop on any [`Bus`] and a given store (`solstice serve`); [`run`] opens
//! RabbitMQ and the store from the environment first.

mod deps;
mod job;
mod routes;
mod saved;
mod slots;
mod worker;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bus::{Bus, SlotBoard};
use sha2::Digest;
use tokio::sync::watch;

pub use deps::{Deps, Secrets, open_store};
pub use worker::{WorkerEnd, WorkerError};

use crate::auth::OAuthTokens;
use crate::broker::{Broker, ListenConfig};
use crate::files::Registration;
use crate::report::ReportConfig;
use crate::run_service::{LeaseConfig, RunService};
use crate::settings::{Settings, SettingsError};

/// Every way the daemon fails; [`DaemonError::exit_code`] maps them to brief §3.7.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("find a registration in {0} (run `github-runner configure` first)")]
    NoRegistration(PathBuf),
    #[error("read the registrations in {dir}")]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("load the registration in {dir}")]
    Load {
        dir: PathBuf,
        #[source]
        source: Box<crate::files::FilesError>,
    },
    #[error("use the registration {name}: {reason}")]
    Labels { name: String, reason: String },
    #[error("use the registration {0}: GitHub gave it no broker URL (the legacy pipelines listener is not supported)")]
    NoBroker(String),
    #[error("build the HTTP client")]
    Client(#[source] http_client::SetupError),
    #[error("configure the runner: SOLSTICE_AMQP_URL is not set")]
    NoAmqp,
    #[error("configure the runner: SOLSTICE_BUS_KEY is not set (standard base64 of 32 bytes)")]
    NoBusKey,
    #[error("configure the runner: SOLSTICE_BUS_KEY")]
    BusKey(#[source] contract::KeyError),
    #[error("open the runner's state store")]
    Store(#[source] store::StoreError),
    #[error("connect to the broker")]
    Bus(#[source] bus::BusError),
    #[error(transparent)]
    Worker(Box<WorkerError>),
}

impl DaemonError {
    /// 2 configuration, 3 the broker or the database unreachable, 4 a registration is gone.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Store(error) if error.is_unavailable() => 3,
            DaemonError::Bus(error) if error.is_unavailable() => 3,
            DaemonError::Worker(error) => match error.as_ref() {
                WorkerError::RegistrationGone { .. } => 4,
                WorkerError::Listen { source, .. } if source.registration_gone() => 4,
                WorkerError::Bus { source, .. } if source.is_unavailable() => 3,
                WorkerError::EventsLost { .. } => 3,
                WorkerError::Store { source, .. } if source.is_unavailable() => 3,
                _ => 2,
            },
            _ => 2,
        }
    }
}

/// The registrations under `<state dir>/github/`, by directory name.
pub fn registrations(state_dir: &Path) -> Result<Vec<(PathBuf, Registration, crate::key::RunnerKey)>, DaemonError> {
    let dir = state_dir.join("github");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(DaemonError::ReadDir { dir, source }),
    };
    let mut dirs: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| Registration::exists(path)).collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| match Registration::load(&dir) {
            Ok((registration, key)) => Ok((dir, registration, key)),
            Err(source) => Err(DaemonError::Load { dir, source: Box::new(source) }),
        })
        .collect()
}

/// The one catalog label among `labels` (the VM image every job of the registration runs in);
/// labels such as `self-hosted` or `linux` may accompany it.
pub fn route_label(labels: &[String]) -> Result<String, String> {
    let catalog = vm_labels();
    let found: Vec<&String> = labels.iter().filter(|label| catalog.iter().any(|c| c == *label)).collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!(
            "its labels ({}) name no VM image; add exactly one of: {}",
            if labels.is_empty() { "none".to_owned() } else { labels.join(", ") },
            catalog.join(", ")
        )),
        many => Err(format!(
            "its labels name several VM images ({}); a runner serves exactly one",
            many.iter().map(|label| label.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The labels of the built-in image catalog.
fn vm_labels() -> Vec<String> {
    match vm::Catalog::builtin() {
        Ok(catalog) => catalog.labels().map(str::to_owned).collect(),
        Err(error) => {
            tracing::error!(error = %crate::error_chain(&error), "the built-in image catalog does not parse");
            Vec::new()
        }
    }
}

/// The runner id a registration has on the bus (its events queue): stable across restarts,
/// distinct across GitHub tenants that may reuse agent ids.
pub fn runner_id(registration: &Registration) -> String {
    let digest = sha2::Sha256::digest(registration.server_url.as_bytes());
    let tenant: String = digest.iter().take(4).map(|byte| format!("{byte:02x}")).collect();
    format!("github-{tenant}-{}", registration.agent_id)
}

/// [`run_with`] after opening the store and RabbitMQ from the environment.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let secrets = Secrets::from_env()?;
    let deps = deps::amqp(&settings, secrets).await?;
    run_with(settings, deps, shutdown).await
}

/// Runs every registration of `settings.state_dir` on the given bus and store until
/// `shutdown`, or until every registration ended (ephemeral ones after their job).
pub async fn run_with<B: Bus>(
    settings: Settings,
    deps: Deps<B>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let found = registrations(&settings.state_dir)?;
    if found.is_empty() {
        return Err(DaemonError::NoRegistration(settings.registrations_dir()));
    }
    let Deps { bus, store, bus_key, ready } = deps;
    let http = crate::http::client().map_err(DaemonError::Client)?;
    let lease = LeaseConfig { interval: settings.renew_interval, ..LeaseConfig::default() };
    let report = ReportConfig { silence: settings.silence, ..ReportConfig::default() };
    let mut workers = Vec::new();
    for (dir, registration, key) in found {
        let name = registration.agent_name.clone();
        let label =
            route_label(&registration.labels).map_err(|reason| DaemonError::Labels { name: name.clone(), reason })?;
        let broker_url = match (&registration.broker_url, registration.use_v2_flow) {
            (Some(url), _) if !url.is_empty() => url.clone(),
            _ => return Err(DaemonError::NoBroker(name)),
        };
        let tokens: Arc<dyn crate::auth::AccessTokens> = Arc::new(OAuthTokens::new(http.clone(), &registration, key));
        let broker = Broker::new(http.clone(), broker_url, tokens.clone()).with_poll_timeout(settings.poll_timeout);
        let env = Arc::new(job::JobEnv {
            bus: bus.clone(),
            store: store.clone(),
            bus_key: bus_key.clone(),
            runner_id: runner_id(&registration),
            label: label.clone(),
            run_service: RunService::new(http.clone(), tokens),
            routes: routes::Routes::default(),
            lease: lease.clone(),
            report: report.clone(),
            spool_dir: settings.state_dir.join("github-spool"),
        });
        tracing::info!(runner = %name, %label, runner_id = %env.runner_id, ephemeral = registration.ephemeral, "serving a registration");
        workers.push(worker::Worker {
            dir,
            registration,
            broker,
            env,
            listen: ListenConfig::default(),
            shutdown_timeout: settings.shutdown_timeout,
        });
    }
    let slot_consumer = bus.subscribe_slots().await.map_err(DaemonError::Bus)?;
    let (board_tx, board) = watch::channel(SlotBoard::default());
    let tracker = tokio::spawn(slots::track(slot_consumer, board_tx, slots::STALE_AFTER));
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    let (stop_tx, stop) = watch::channel(false);
    let mut running = tokio::task::JoinSet::new();
    for worker in workers {
        running.spawn(worker.run(board.clone(), stop.clone()));
    }
    tokio::pin!(shutdown);
    let mut failure: Option<WorkerError> = None;
    let mut stopping = false;
    loop {
        tokio::select! {
            () = &mut shutdown, if !stopping => {
                tracing::info!("shutting down: no new jobs; running ones may finish");
                stopping = true;
                let _ = stop_tx.send(true);
            }
            joined = running.join_next() => match joined {
                None => break,
                Some(Ok(Ok(end))) => tracing::info!(?end, "a registration stopped"),
                Some(Ok(Err(error))) => {
                    tracing::error!(error = %crate::error_chain(&error), "a registration failed; stopping the runner");
                    failure.get_or_insert(error);
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
                Some(Err(error)) => {
                    tracing::error!(%error, "a registration's task ended abnormally");
                }
            }
        }
    }
    tracker.abort();
    match failure {
        Some(error) => Err(DaemonError::Worker(Box::new(error))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
