//! `forgejo-runner daemon` and `one-job`: load the registration, Declare, open the store and
//! the bus, resume the tasks an earlier run left, then fetch tasks while there is room and run
//! each through [`jobs::Jobs`]: a JobRequest on the bus, its events reported to Forgejo.
//! [`run_with_deps`] is the same loop on any [`Bus`] and a given store (`solstice serve`).
//!
//! Environment beyond [`Settings`]: `SOLSTICE_BUS_KEY` (required, shared with the
//! orchestrators: it seals the secrets) and `SOLSTICE_DATABASE_URL` (default
//! `sqlite://<state dir>/forgejo-runner.sqlite`, the state dir being the `.runner` file's).

mod deps;
mod jobs;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bus::Bus;
use contract::BusKey;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::client::{Client, ClientError};
use crate::connect::{Code, ConnectError};
use crate::fetch::{Assignment, FetchConfig, FetchError, Room, TaskSource, fetch_loop};
use crate::labels::LabelError;
use crate::poller::Poller;
use crate::registration::{RunnerFile, RunnerFileError};
use crate::report::{ReportConfig, TaskResult};
use crate::room::{STALE_AFTER, track_free_slots};
use crate::settings::{Settings, SettingsError};
use crate::task::{TaskInput, TranslateSettings};
pub use deps::{Deps, Secrets};
use jobs::Jobs;

/// Every way the daemon fails; [`DaemonError::exit_code`] maps them to brief §3.7.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("load the registration (run `forgejo-runner register` first)")]
    RunnerFile(#[source] RunnerFileError),
    #[error("run the daemon: the registration is ephemeral; use `forgejo-runner one-job`")]
    Ephemeral,
    #[error("use the registration's labels")]
    Labels(#[source] LabelError),
    #[error("reach Forgejo")]
    Client(#[source] ClientError),
    #[error("declare the runner to Forgejo")]
    Declare(#[source] ConnectError),
    #[error("connect to the broker")]
    Bus(#[source] bus::BusError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("fetch a task")]
    FetchOnce(#[source] ConnectError),
    #[error("follow the orchestrators' free slots: the broker went away for good")]
    BusLost,
    #[error("configure the runner: SOLSTICE_BUS_KEY is not set (standard base64 of 32 bytes)")]
    NoBusKey,
    #[error("configure the runner: SOLSTICE_BUS_KEY")]
    BusKey(#[source] contract::KeyError),
    #[error("open the runner's state store")]
    Store(#[source] store::StoreError),
}

impl DaemonError {
    /// 2 configuration, 3 Forgejo or the broker unreachable, 4 the registration is gone.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Settings(_)
            | DaemonError::RunnerFile(_)
            | DaemonError::Ephemeral
            | DaemonError::Labels(_)
            | DaemonError::Client(_)
            | DaemonError::NoBusKey
            | DaemonError::BusKey(_) => 2,
            DaemonError::Store(error) if !error.is_unavailable() => 2,
            DaemonError::Declare(error) if error.code() == Code::Unauthenticated => 4,
            DaemonError::Fetch(FetchError::Unauthenticated(_)) => 4,
            DaemonError::Bus(error) if !error.is_unavailable() => 2,
            DaemonError::FetchOnce(error) if error.code() == Code::Unauthenticated => 4,
            DaemonError::Declare(_)
            | DaemonError::Bus(_)
            | DaemonError::FetchOnce(_)
            | DaemonError::BusLost
            | DaemonError::Store(_) => 3,
        }
    }
}

/// The registration and the client that speaks for it, Declare done.
pub struct Connected {
    pub registration: RunnerFile,
    pub poller: Poller,
}

/// Loads the `.runner` file and declares the runner's labels and version. An old server that
/// does not know Declare (`unimplemented`) is fine; `unauthenticated` means the registration is
/// gone (exit 4).
pub async fn connect(
    runner_file: &std::path::Path,
    labels: Option<&[String]>,
    fetch_timeout: Duration,
) -> Result<Connected, DaemonError> {
    let registration = RunnerFile::load(runner_file).map_err(DaemonError::RunnerFile)?;
    let names = match labels {
        Some(labels) => crate::labels::label_names(labels),
        None => registration.label_names(),
    }
    .map_err(DaemonError::Labels)?;
    let client = Client::new(&registration.address)
        .and_then(|client| client.with_credentials(&registration.credentials()))
        .map_err(DaemonError::Client)?
        .with_fetch_timeout(fetch_timeout);
    match client.declare(&names).await {
        Ok(runner) => tracing::info!(id = runner.id, labels = %runner.labels.join(","), "declared to Forgejo"),
        Err(error) if error.code() == Code::Unimplemented => {
            tracing::info!("Forgejo does not know Declare (an older server); going on with the registered labels");
        }
        Err(error) => return Err(DaemonError::Declare(error)),
    }
    Ok(Connected { registration, poller: Poller { client, labels: names } })
}

/// What a task needs to become a JobRequest.
struct Translation {
    runner_id: String,
    instance_url: String,
    catalog_labels: Vec<String>,
    bus_key: BusKey,
}

impl Translation {
    fn settings(&self) -> TranslateSettings<'_> {
        TranslateSettings {
            runner_id: self.runner_id.clone(),
            instance_url: self.instance_url.clone(),
            catalog_labels: self.catalog_labels.clone(),
            generic_labels: Vec::new(),
            bus_key: &self.bus_key,
        }
    }
}

/// What the daemon loop runs with once its dependencies are given: the part of [`Settings`]
/// that is not about reaching the broker, so `solstice serve` can run the same loop on its
/// in-process bus.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub runner_file: std::path::PathBuf,
    /// Labels to declare instead of the `.runner` file's.
    pub labels: Option<Vec<String>>,
    pub capacity: u32,
    pub fetch: FetchConfig,
    /// How long running jobs may take to finish after shutdown before they are cancelled.
    pub shutdown_timeout: Duration,
}

impl From<&Settings> for RunConfig {
    fn from(settings: &Settings) -> RunConfig {
        RunConfig {
            runner_file: settings.runner_file.clone(),
            labels: settings.labels.clone(),
            capacity: settings.capacity,
            fetch: settings.fetch.clone(),
            shutdown_timeout: settings.shutdown_timeout,
        }
    }
}

/// Everything a running runner holds: the registration, the bus, the running tasks.
struct Running<B: Bus> {
    connected: Connected,
    bus: B,
    jobs: Arc<Jobs<B>>,
    translation: Arc<Translation>,
    /// Resolves when the event consumer failed for good.
    events_lost: tokio::sync::oneshot::Receiver<()>,
    /// The tasks an earlier run left, routed before the first event was consumed.
    resumed: Vec<jobs::Resume>,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Consumes the runner's events and routes the saved tasks, on the given bus and store.
async fn start<B: Bus>(connected: Connected, deps: Deps<B>) -> Result<Running<B>, DaemonError> {
    let Deps { bus, store, bus_key, ready } = deps;
    let runner_id = connected.registration.uuid.clone();
    let consumer = bus.consume_events(&runner_id).await.map_err(DaemonError::Bus)?;
    let sink = Arc::new(connected.poller.client.clone());
    let ephemeral = connected.registration.ephemeral;
    let jobs = Arc::new(Jobs::new(bus.clone(), store, sink, runner_id.clone(), ReportConfig::default(), ephemeral));
    let saved = jobs.saved().await.map_err(DaemonError::Store)?;
    let resumed = saved.into_iter().map(|(task, job, ledger)| jobs.prepare_resume(task, job, ledger)).collect();
    let (lost_tx, events_lost) = tokio::sync::oneshot::channel();
    let consuming = jobs.clone();
    tokio::spawn(async move {
        let error = consuming.consume_events(consumer).await;
        tracing::error!(error = %crate::error_chain(&error), "consuming the job events failed");
        let _ = lost_tx.send(());
    });
    let translation = Arc::new(Translation {
        runner_id,
        instance_url: connected.registration.address.clone(),
        catalog_labels: connected.poller.labels.clone(),
        bus_key,
    });
    Ok(Running { connected, bus, jobs, translation, events_lost, resumed, ready })
}

/// The daemon: declares, then fetches tasks while the runner has capacity and an orchestrator
/// advertises a free slot for its labels, until `shutdown`; then stops fetching and waits (up to
/// the shutdown timeout) for running jobs, cancels those still running on the bus and reports
/// their ends.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    run_with(settings, Secrets::from_env()?, shutdown).await
}

/// [`run`] with the bus key and database URL given rather than read from the environment.
pub async fn run_with(
    settings: Settings,
    secrets: Secrets,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let config = RunConfig::from(&settings);
    let connected = connect(&config.runner_file, config.labels.as_deref(), config.fetch.fetch_timeout).await?;
    if connected.registration.ephemeral {
        return Err(DaemonError::Ephemeral);
    }
    let deps = deps::amqp(&settings.runner_file, &connected, &settings.amqp, secrets).await?;
    serve(config, connected, deps, shutdown).await
}

/// [`run`] on a bus and store its caller owns: `solstice serve` runs every Forgejo connection
/// this way, on its in-process bus and its one SQLite store, beside its own orchestrator.
pub async fn run_with_deps<B: Bus>(
    config: RunConfig,
    deps: Deps<B>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let connected = connect(&config.runner_file, config.labels.as_deref(), config.fetch.fetch_timeout).await?;
    if connected.registration.ephemeral {
        return Err(DaemonError::Ephemeral);
    }
    serve(config, connected, deps, shutdown).await
}

async fn serve<B: Bus>(
    config: RunConfig,
    connected: Connected,
    deps: Deps<B>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let Running { connected, bus, jobs, translation, events_lost, resumed, ready } = start(connected, deps).await?;
    let capacity = Arc::new(Semaphore::new(config.capacity as usize));
    let mut tasks = JoinSet::new();
    for resume in resumed {
        // A resumed task takes a share of the capacity when there is one; it runs either way.
        let permit = capacity.clone().try_acquire_owned().ok();
        let jobs = jobs.clone();
        tasks.spawn(async move {
            jobs.resume(resume).await;
            drop(permit);
        });
    }
    let slots = bus.subscribe_slots().await.map_err(DaemonError::Bus)?;
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    let (free_tx, free_rx) = watch::channel(0u32);
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let labels = connected.poller.labels.clone();
    let watcher = tokio::spawn(async move {
        track_free_slots(slots, labels, free_tx, STALE_AFTER).await;
        let _ = lost_tx.send(());
    });
    // Without slot adverts or events the runner could never run a job again: the daemon ends
    // (exit 3) rather than sit there looking online.
    let bus_lost = std::sync::atomic::AtomicBool::new(false);
    let stop = async {
        tokio::select! {
            () = shutdown => {}
            Ok(()) = lost_rx => bus_lost.store(true, std::sync::atomic::Ordering::SeqCst),
            Ok(()) = events_lost => bus_lost.store(true, std::sync::atomic::Ordering::SeqCst),
        }
    };
    let room = Room { capacity: capacity.clone(), free_slots: free_rx };
    let (tasks_tx, mut tasks_rx) = mpsc::channel::<Assignment<TaskInput>>(1);
    let dispatch_jobs = jobs.clone();
    let dispatcher = tokio::spawn(async move {
        while let Some(assignment) = tasks_rx.recv().await {
            let jobs = dispatch_jobs.clone();
            let translation = translation.clone();
            tasks.spawn(async move {
                jobs.run_task(assignment.task, &translation.settings()).await;
                drop(assignment.permit);
            });
        }
        tasks
    });
    let result = fetch_loop(&connected.poller, &config.fetch, room, tasks_tx, stop).await;
    watcher.abort();
    let mut tasks = match dispatcher.await {
        Ok(tasks) => tasks,
        Err(_) => JoinSet::new(),
    };
    drain(&jobs, &mut tasks, config.shutdown_timeout).await;
    result?;
    if bus_lost.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(DaemonError::BusLost);
    }
    Ok(())
}

/// Waits up to `grace` for the running jobs; then cancels the rest on the bus and waits for
/// their ends to be reported, as long as the reports' own cancel grace allows; what is still
/// running then is left saved for the next start.
async fn drain<B: Bus>(jobs: &Jobs<B>, tasks: &mut JoinSet<()>, grace: Duration) {
    if !tasks.is_empty() {
        tracing::info!(jobs = jobs.running().len(), "waiting for the running jobs");
    }
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_done).await.is_ok() {
        return;
    }
    tracing::warn!("running jobs did not finish within the shutdown timeout; cancelling them");
    jobs.cancel_all("the runner is shutting down").await;
    let cancel_grace = ReportConfig::default().cancel_grace + Duration::from_secs(10);
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(cancel_grace, all_done).await.is_err() {
        tracing::warn!("cancelled jobs did not end; leaving their reports for the next start");
        jobs.detach_all();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} }).await;
    }
}

/// `one-job`: runs a task an earlier run left, else one FetchTask; a task found runs to its end.
/// Returns the task's result, or `None` when there was no task.
pub async fn one_job(settings: &Settings) -> Result<Option<TaskResult>, DaemonError> {
    let secrets = Secrets::from_env()?;
    let connected = connect(&settings.runner_file, None, crate::client::FETCH_TIMEOUT).await?;
    let deps = deps::amqp(&settings.runner_file, &connected, &settings.amqp, secrets).await?;
    let Running { connected, jobs, translation, resumed, .. } = start(connected, deps).await?;
    if let Some(resume) = resumed.into_iter().next() {
        return Ok(Some(jobs.resume(resume).await.unwrap_or(TaskResult::Failure)));
    }
    let key = uuid::Uuid::new_v4().to_string();
    // The same key on every try: a task assigned during a call whose answer was lost comes back.
    let mut tries = 0;
    let fetched = loop {
        tries += 1;
        match connected.poller.fetch(0, &key).await {
            Ok(fetched) => break fetched,
            Err(error) if error.lost_in_transit() && tries < 3 => {
                tracing::warn!(error = %crate::error_chain(&error), "FetchTask failed; trying again with the same key");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(DaemonError::FetchOnce(error)),
        }
    };
    match fetched.task {
        Some(task) => Ok(Some(jobs.run_task(task, &translation.settings()).await.unwrap_or(TaskResult::Failure))),
        None => Ok(None),
    }
}
