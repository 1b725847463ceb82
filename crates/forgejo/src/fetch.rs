//! The fetch loop (forgejo.md §3.4, §7): Forgejo never pushes work, the runner polls FetchTask.
//!
//! What the loop keeps to:
//! - one call at a time, at most one per `interval`, each bounded by `fetch_timeout`;
//! - `tasks_version` from the last answer, reset to 0 after a task (otherwise the server keeps
//!   answering "nothing new" until some other job bumps the version);
//! - a request key (UUID) per fetch, sent again after a failed call so a task the server assigned
//!   during a call whose answer was lost is handed out again instead of becoming a zombie, and
//!   renewed after every answered call;
//! - a fetch only when there is room: a capacity permit (the runner's own limit) and a free slot
//!   advertised by some orchestrator for the runner's labels ([`bus::SlotBoard`]); the permit
//!   travels with the task and frees the capacity when the job is done;
//! - some authenticated call at least every `keep_alive` (≤ 60 s) even without room, because
//!   Forgejo shows a runner offline after a minute of silence.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::connect::{Code, ConnectError};

/// Forgejo marks a runner offline after a minute without a call.
pub const MAX_SILENCE: Duration = Duration::from_secs(60);

/// One answered FetchTask.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched<T> {
    pub task: Option<T>,
    pub tasks_version: i64,
}

/// Where tasks come from: the Connect client in production, a script in tests.
pub trait TaskSource: Send + Sync {
    type Task: Send + 'static;

    /// One FetchTask call.
    fn fetch(
        &self,
        tasks_version: i64,
        request_key: &str,
    ) -> impl Future<Output = Result<Fetched<Self::Task>, ConnectError>> + Send;

    /// An authenticated call that takes no task (Declare), so the runner stays online while it
    /// has no room to fetch.
    fn keep_alive(&self) -> impl Future<Output = Result<(), ConnectError>> + Send;
}

/// The loop's pacing.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// The least time between two FetchTask calls (forgejo-runner's `fetch_interval`).
    pub interval: Duration,
    /// How long one FetchTask may take before it counts as lost.
    pub fetch_timeout: Duration,
    /// The longest silence towards the server while there is no room to fetch.
    pub keep_alive: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            interval: Duration::from_secs(2),
            fetch_timeout: crate::client::FETCH_TIMEOUT,
            keep_alive: Duration::from_secs(30),
        }
    }
}

/// The room to run more jobs: the runner's capacity (one permit per job it may run) and the
/// free slots orchestrators advertise for its labels.
#[derive(Debug, Clone)]
pub struct Room {
    pub capacity: Arc<Semaphore>,
    pub free_slots: watch::Receiver<u32>,
}

/// A fetched task with the capacity it holds until the job is done.
#[derive(Debug)]
pub struct Assignment<T> {
    pub task: T,
    pub permit: OwnedSemaphorePermit,
}

/// Why the loop stopped before shutdown.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The runner was deleted (an ephemeral one after its task) or its token is wrong.
    #[error("fetch tasks: Forgejo no longer accepts this runner")]
    Unauthenticated(#[source] ConnectError),
}

/// Polls `source` until `shutdown` resolves, the receiver of `tasks` goes away, or the server
/// stops accepting the runner. A call already under way when `shutdown` comes is finished, and
/// its task handed out: dropping it could leave a task assigned to nobody.
pub async fn fetch_loop<S: TaskSource>(
    source: &S,
    config: &FetchConfig,
    mut room: Room,
    tasks: mpsc::Sender<Assignment<S::Task>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), FetchError> {
    tokio::pin!(shutdown);
    let interval = config.interval.min(MAX_SILENCE);
    let keep_alive = config.keep_alive.min(MAX_SILENCE);
    let mut tasks_version = 0i64;
    let mut request_key = new_request_key();
    let mut last_call = Instant::now();
    let mut next_fetch = Instant::now();
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            () = tasks.closed() => return Ok(()),
            permit = wait_for_room(&mut room) => permit,
            () = tokio::time::sleep_until(last_call + keep_alive) => {
                last_call = Instant::now();
                if let Err(error) = source.keep_alive().await {
                    check_authenticated(error, "keep-alive")?;
                }
                continue;
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep_until(next_fetch) => {}
        }
        last_call = Instant::now();
        next_fetch = last_call + interval;
        let answer = match tokio::time::timeout(config.fetch_timeout, source.fetch(tasks_version, &request_key)).await {
            Ok(answer) => answer,
            Err(_) => Err(ConnectError::Timeout { rpc: crate::client::FETCH_TASK, after: config.fetch_timeout }),
        };
        match answer {
            Ok(fetched) => {
                request_key = new_request_key();
                match fetched.task {
                    Some(task) => {
                        tasks_version = 0;
                        tracing::debug!("fetched a task");
                        if tasks.send(Assignment { task, permit }).await.is_err() {
                            return Ok(());
                        }
                    }
                    None => tasks_version = fetched.tasks_version,
                }
            }
            // Keeping the key after any failure is what makes a retried call recover a task the
            // server assigned under it; the server only ever matches it against its own
            // assignments, so reusing it after an error the server did answer costs nothing.
            Err(error) => check_authenticated(error, "fetch")?,
        }
    }
}

/// Waits for a capacity permit and then for an advertised free slot. A slot watch whose sender
/// is gone never gives room again.
async fn wait_for_room(room: &mut Room) -> OwnedSemaphorePermit {
    let Ok(permit) = room.capacity.clone().acquire_owned().await else {
        return std::future::pending().await;
    };
    if room.free_slots.wait_for(|free| *free > 0).await.is_err() {
        return std::future::pending().await;
    }
    permit
}

fn check_authenticated(error: ConnectError, call: &str) -> Result<(), FetchError> {
    if error.code() == Code::Unauthenticated {
        return Err(FetchError::Unauthenticated(error));
    }
    tracing::warn!(error = %crate::error_chain(&error), "{call} failed; trying again at the next interval");
    telemetry::runner::forge_error("forgejo", call);
    Ok(())
}

fn new_request_key() -> String {
    uuid::Uuid::new_v4().to_string()
}
