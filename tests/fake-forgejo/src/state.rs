//! Everything the fake remembers, behind one lock; every change is announced on a watch channel
//! so that tests await it instead of polling.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::call::Call;
use crate::faults::Faults;
use crate::job_spec::{JobSpec, Scope};
use crate::status::Status;

/// The instance's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// ZOMBIE_TASK_TIMEOUT: a running task not updated for this long fails (forgejo.md §3.8).
    pub zombie_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        // Forgejo's default (§3.8); tests that exercise it pass a short one.
        Config { zombie_timeout: Duration::from_secs(600) }
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn new(state: State) -> Arc<Shared> {
        Arc::new(Shared { state: Mutex::new(state), changed: watch::Sender::new(0) })
    }

    /// Reads the state without announcing anything.
    pub(crate) fn read(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was at the panic; a test fake
        // keeps serving it rather than poisoning every later call.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the state and wakes every waiter.
    pub(crate) fn change<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let result = f(&mut self.read());
        self.changed.send_modify(|generation| *generation += 1);
        result
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

pub(crate) struct RegistrationToken {
    pub token: String,
    pub scope: Scope,
    pub active: bool,
}

pub(crate) struct Runner {
    pub id: i64,
    pub uuid: String,
    pub token: String,
    pub name: String,
    pub version: String,
    pub labels: Vec<String>,
    pub ephemeral: bool,
    pub scope: Scope,
    pub last_online: Option<OffsetDateTime>,
    pub last_active: Option<OffsetDateTime>,
    pub tasks_taken: usize,
}

pub(crate) struct Job {
    pub spec: JobSpec,
    pub status: Status,
    pub task_id: Option<i64>,
}

pub(crate) struct Task {
    pub id: i64,
    pub job_id: i64,
    pub runner_id: i64,
    pub token: String,
    pub request_key: Option<String>,
    pub status: Status,
    pub started: OffsetDateTime,
    pub stopped: Option<OffsetDateTime>,
    /// Monotonic time of the last UpdateTask/UpdateLog, for the zombie timer.
    pub updated: Instant,
    pub steps: Vec<Step>,
    pub outputs: BTreeMap<String, String>,
    pub rows: Vec<StoredRow>,
    pub log_archived: bool,
}

pub(crate) struct Step {
    pub name: String,
    pub status: Status,
    pub log_index: i64,
    pub log_length: i64,
    pub started: Option<OffsetDateTime>,
    pub stopped: Option<OffsetDateTime>,
}

/// One stored log row: its time and its content after the server's rewriting (§3.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRow {
    pub time: Option<OffsetDateTime>,
    pub content: String,
}

pub(crate) struct State {
    pub config: Config,
    pub url: String,
    pub next_id: i64,
    pub registration_tokens: Vec<RegistrationToken>,
    pub runners: BTreeMap<i64, Runner>,
    pub jobs: BTreeMap<i64, Job>,
    pub tasks: BTreeMap<i64, Task>,
    pub tasks_version: i64,
    pub calls: Vec<Call>,
    pub faults: Faults,
    pub queued_errors: VecDeque<crate::faults::QueuedError>,
}

impl State {
    pub(crate) fn new(config: Config, url: String) -> State {
        State {
            config,
            url,
            next_id: 1,
            registration_tokens: Vec::new(),
            runners: BTreeMap::new(),
            jobs: BTreeMap::new(),
            tasks: BTreeMap::new(),
            // forgejo.md §3.4 step 2: the version is at least 1 once read, so a runner that
            // starts with 0 always gets a real pick.
            tasks_version: 1,
            calls: Vec::new(),
            faults: Faults::default(),
            queued_errors: VecDeque::new(),
        }
    }

    /// Ids are never reused, across every kind of record.
    pub(crate) fn allocate_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Stops a running task from the server side (user cancel, zombie cleanup): the task, its
    /// job and every unfinished step take `status`.
    pub(crate) fn stop_task(&mut self, task_id: i64, status: Status, now: OffsetDateTime) {
        let Some(task) = self.tasks.get_mut(&task_id) else {
            return;
        };
        if task.status.is_final() {
            return;
        }
        task.status = status;
        task.stopped = Some(now);
        for step in &mut task.steps {
            if !step.status.is_final() {
                step.status = status;
                step.started.get_or_insert(now);
                step.stopped = Some(now);
            }
        }
        if let Some(job) = self.jobs.get_mut(&task.job_id) {
            job.status = status;
        }
    }
}

/// A random secret of 40 hex characters, the shape of Forgejo's runner and task tokens.
pub(crate) fn new_token() -> String {
    let mut token = uuid::Uuid::new_v4().simple().to_string();
    token.push_str(&uuid::Uuid::new_v4().simple().to_string());
    token.truncate(40);
    token
}
