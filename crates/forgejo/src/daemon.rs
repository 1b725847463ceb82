//! `forgejo-runner daemon` and `one-job`: load the registration, Declare, then fetch tasks while
//! there is room.
//!
//! NOT YET WIRED: a fetched task is not run. Handing it to the bus as a JobRequest and reporting
//! its events is the next step of the Forgejo issue; until then [`refuse_task`] fails each task in
//! Forgejo with a log row that says so, rather than leaving it to the zombie timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bus::Bus;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::client::{Client, ClientError};
use crate::connect::{Code, ConnectError};
use crate::fetch::{Assignment, FetchError, Room, TaskSource, fetch_loop};
use crate::labels::LabelError;
use crate::poller::Poller;
use crate::registration::{RunnerFile, RunnerFileError};
use crate::report::{Row, StepView, TaskResult, TaskSink, TaskStateView};
use crate::room::{STALE_AFTER, track_free_slots};
use crate::settings::{Settings, SettingsError};
use crate::task::TaskInput;

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
}

impl DaemonError {
    /// 2 configuration, 3 Forgejo or the broker unreachable, 4 the registration is gone.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Settings(_)
            | DaemonError::RunnerFile(_)
            | DaemonError::Ephemeral
            | DaemonError::Labels(_)
            | DaemonError::Client(_) => 2,
            DaemonError::Declare(error) if error.code() == Code::Unauthenticated => 4,
            DaemonError::Fetch(FetchError::Unauthenticated(_)) => 4,
            DaemonError::Bus(error) if !error.is_unavailable() => 2,
            DaemonError::FetchOnce(error) if error.code() == Code::Unauthenticated => 4,
            DaemonError::Declare(_) | DaemonError::Bus(_) | DaemonError::FetchOnce(_) | DaemonError::BusLost => 3,
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

/// The daemon: declares, then fetches tasks while the runner has capacity and an orchestrator
/// advertises a free slot for its labels, until `shutdown`; then stops fetching and waits (up to
/// the shutdown timeout) for running jobs.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let connected = connect(&settings.runner_file, settings.labels.as_deref(), settings.fetch.fetch_timeout).await?;
    if connected.registration.ephemeral {
        return Err(DaemonError::Ephemeral);
    }
    let amqp = bus::AmqpSettings {
        connection_name: format!("forgejo-runner {}", connected.registration.uuid),
        ..settings.amqp.clone()
    };
    let bus = bus::AmqpBus::connect(amqp).await.map_err(DaemonError::Bus)?;
    let slots = bus.subscribe_slots().await.map_err(DaemonError::Bus)?;
    let (free_tx, free_rx) = watch::channel(0u32);
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let labels = connected.poller.labels.clone();
    let watcher = tokio::spawn(async move {
        track_free_slots(slots, labels, free_tx, STALE_AFTER).await;
        let _ = lost_tx.send(());
    });
    // Without slot adverts the runner could never fetch again: the daemon ends (exit 3) rather
    // than sit there looking online.
    let bus_lost = std::sync::atomic::AtomicBool::new(false);
    let stop = async {
        tokio::select! {
            () = shutdown => {}
            Ok(()) = lost_rx => bus_lost.store(true, std::sync::atomic::Ordering::SeqCst),
        }
    };
    let capacity = Arc::new(Semaphore::new(settings.capacity as usize));
    let room = Room { capacity: capacity.clone(), free_slots: free_rx };
    let (tasks_tx, mut tasks_rx) = mpsc::channel::<Assignment<TaskInput>>(1);
    let client = connected.poller.client.clone();
    let jobs = tokio::spawn(async move {
        while let Some(assignment) = tasks_rx.recv().await {
            let client = client.clone();
            tokio::spawn(async move {
                refuse_task(&client, &assignment.task).await;
                drop(assignment.permit);
            });
        }
    });
    let result = fetch_loop(&connected.poller, &settings.fetch, room, tasks_tx, stop).await;
    watcher.abort();
    let _ = jobs.await;
    // Every permit back means every job is done.
    if tokio::time::timeout(settings.shutdown_timeout, capacity.acquire_many(settings.capacity)).await.is_err() {
        tracing::warn!("running jobs did not finish within the shutdown timeout; leaving them");
    }
    result?;
    if bus_lost.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(DaemonError::BusLost);
    }
    Ok(())
}

/// `one-job`: one FetchTask; a task found is handed to the (not yet wired) job runner. Returns
/// whether there was a task.
pub async fn one_job(runner_file: &std::path::Path) -> Result<bool, DaemonError> {
    let connected = connect(runner_file, None, crate::client::FETCH_TIMEOUT).await?;
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
        Some(task) => {
            refuse_task(&connected.poller.client, &task).await;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// NOT YET WIRED: fails the task in Forgejo with one row saying why, instead of running it.
async fn refuse_task(sink: &dyn TaskSink, task: &TaskInput) {
    let now = OffsetDateTime::now_utc();
    tracing::error!(task = task.id, "fetched a task, but running Forgejo tasks is not wired up yet; failing it");
    let row = Row {
        time: now,
        content: "solstice forgejo-runner: running Forgejo tasks is not wired up in this version; the task fails"
            .to_owned(),
    };
    if let Err(error) = sink.update_log(task.id, 0, &[row], true).await {
        tracing::warn!(task = task.id, %error, "could not write the task's log");
    }
    let state = TaskStateView {
        id: task.id,
        result: TaskResult::Failure,
        started_at: Some(now),
        stopped_at: Some(now),
        steps: Vec::<StepView>::new(),
    };
    if let Err(error) = sink.update_task(&state, &Default::default()).await {
        tracing::warn!(task = task.id, %error, "could not fail the task");
    }
}
