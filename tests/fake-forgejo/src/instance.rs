//! The handle a test holds: start, drive and observe one fake instance.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::call::Call;
use crate::connect_error::Code;
use crate::faults::{ProxyDown, QueuedError};
use crate::job_spec::{JobHandle, JobSpec, Scope};
use crate::runners::{
    RunnerCredentials, RunnerView, create_registration_token, create_runner, credentials_from_secret,
};
use crate::state::{Config, Job, Shared, State, StoredRow};
use crate::status::Status;
use crate::view::{JobView, job_view};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("bind 127.0.0.1:0")]
    Bind(#[source] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("see the awaited state within {0:?}")]
    TimedOut(Duration),
}

/// A running fake; the server and its timers stop when it is dropped.
pub struct FakeForgejo {
    shared: Arc<Shared>,
    url: String,
    background: Vec<JoinHandle<()>>,
}

impl Drop for FakeForgejo {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

impl FakeForgejo {
    /// Starts an instance with Forgejo's default settings.
    pub async fn start() -> Result<FakeForgejo, StartError> {
        FakeForgejo::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> Result<FakeForgejo, StartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(StartError::Bind)?;
        let address = listener.local_addr().map_err(StartError::Bind)?;
        let url = format!("http://{address}");
        let shared = Shared::new(State::new(config, url.clone()));
        let app = crate::server::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "fake forgejo stopped serving");
            }
        });
        let zombies = tokio::spawn(crate::zombie::watch_for_zombies(Arc::downgrade(&shared)));
        Ok(FakeForgejo { shared, url, background: vec![server, zombies] })
    }

    /// The instance URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new registration token for `scope` ("Create new runner"); it deactivates the scope's
    /// earlier tokens.
    pub fn registration_token(&self, scope: Scope) -> String {
        self.shared.change(|state| create_registration_token(state, scope))
    }

    /// Creates a runner the way an admin does without Register (REST API: random uuid and
    /// token); it carries no labels until it calls Declare.
    pub fn create_runner(&self, name: &str, scope: Scope) -> RunnerCredentials {
        let (uuid, token) = (uuid::Uuid::new_v4().to_string(), crate::state::new_token());
        self.shared.change(|state| create_runner(state, name, scope, uuid, token))
    }

    /// Creates a runner as `forgejo-cli actions register --secret <40 hex>` does: the token is
    /// the secret, the uuid its first 16 bytes. `None` when the secret is not 40 hex characters.
    pub fn create_runner_with_secret(&self, name: &str, scope: Scope, secret: &str) -> Option<RunnerCredentials> {
        let (uuid, token) = credentials_from_secret(secret)?;
        Some(self.shared.change(|state| create_runner(state, name, scope, uuid, token)))
    }

    /// Adds a job that waits for a runner, and bumps the tasks version (forgejo.md §3.4 step 2).
    pub fn add_job(&self, spec: JobSpec) -> JobHandle {
        self.shared.change(|state| {
            let id = state.allocate_id();
            state.jobs.insert(id, Job { spec, status: Status::Waiting, task_id: None });
            state.tasks_version += 1;
            JobHandle(id)
        })
    }

    /// Cancels a job from the UI: a waiting job is never handed out; a running task becomes
    /// cancelled and the runner learns it from its next UpdateTask (forgejo.md §3.6 step 2).
    pub fn cancel(&self, job: JobHandle) {
        self.shared.change(|state| {
            let now = OffsetDateTime::now_utc();
            let Some(entry) = state.jobs.get_mut(&job.0) else {
                return;
            };
            match entry.task_id {
                None if !entry.status.is_final() => entry.status = Status::Cancelled,
                None => {}
                Some(task_id) => state.stop_task(task_id, Status::Cancelled, now),
            }
        });
    }

    /// Answers every call with a proxy's 503 HTML page for `duration`.
    pub fn proxy_down_for(&self, duration: Duration) {
        self.shared.change(|state| {
            state.faults.proxy_down = Some(ProxyDown::Until(Instant::now() + duration));
        });
    }

    /// Answers every call with a proxy's 503 HTML page until [`FakeForgejo::clear_faults`].
    pub fn proxy_down(&self) {
        self.shared.change(|state| state.faults.proxy_down = Some(ProxyDown::UntilCleared));
    }

    /// Answers the next call of `method` (`"FetchTask"`…, or any method when `None`) with a
    /// Connect error of `code`, without acting on it. Queued errors are answered in order.
    pub fn fail_once(&self, method: Option<&str>, code: Code) {
        self.shared.change(|state| state.queued_errors.push_back(QueuedError::new(method, code)));
    }

    /// Ends the proxy outage and drops queued errors.
    pub fn clear_faults(&self) {
        self.shared.change(|state| {
            state.faults.proxy_down = None;
            state.queued_errors.clear();
        });
    }

    /// A view of the current state; see [`Snapshot`]. The closure runs under the fake's lock,
    /// so it must not call the fake (or make a request to it) itself.
    pub fn snapshot<T>(&self, f: impl FnOnce(&Snapshot<'_>) -> T) -> T {
        f(&Snapshot(&self.shared.read()))
    }

    pub fn view(&self, job: JobHandle) -> Option<JobView> {
        self.snapshot(|snapshot| snapshot.view(job))
    }

    pub fn runners(&self) -> Vec<RunnerView> {
        self.snapshot(|snapshot| snapshot.runners())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.snapshot(|snapshot| snapshot.calls())
    }

    pub fn rows(&self, job: JobHandle) -> Vec<StoredRow> {
        self.snapshot(|snapshot| snapshot.rows(job))
    }

    /// Waits until `check` returns `Some`, re-checking after every change of the state, for at
    /// most `timeout`. `check` runs under the fake's lock, like [`FakeForgejo::snapshot`]'s.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Snapshot<'_>) -> Option<T>,
    ) -> Result<T, WaitError> {
        let deadline = Instant::now() + timeout;
        // Subscribed before the first check, so a change between the check and the await is
        // not missed.
        let mut changes = self.shared.subscribe();
        loop {
            if let Some(found) = self.snapshot(&mut check) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(WaitError::TimedOut(timeout)),
            }
        }
    }

    /// Waits until a runner picked the job up and returns the task's id.
    pub async fn wait_until_picked(&self, job: JobHandle, timeout: Duration) -> Result<i64, WaitError> {
        self.wait_for(timeout, |snapshot| snapshot.view(job).and_then(|view| view.task_id)).await
    }

    /// Waits until the job has a final status and returns what its page shows.
    pub async fn wait_until_finished(&self, job: JobHandle, timeout: Duration) -> Result<JobView, WaitError> {
        self.wait_for(timeout, |snapshot| snapshot.view(job).filter(|view| view.status.is_final())).await
    }
}

/// The fake's state as of one moment, read-only.
pub struct Snapshot<'a>(&'a State);

impl Snapshot<'_> {
    /// The job's page, `None` for a handle of another instance.
    pub fn view(&self, job: JobHandle) -> Option<JobView> {
        self.0.jobs.get(&job.0).map(|entry| job_view(self.0, entry))
    }

    /// The registered runners (a deleted ephemeral runner is gone).
    pub fn runners(&self) -> Vec<RunnerView> {
        self.0.runners.values().map(RunnerView::from).collect()
    }

    /// Every call answered so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.0.calls.clone()
    }

    /// The calls of one method, oldest first.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.0.calls.iter().filter(|call| call.method == method).cloned().collect()
    }

    /// The job's task log as stored, every row.
    pub fn rows(&self, job: JobHandle) -> Vec<StoredRow> {
        self.0
            .jobs
            .get(&job.0)
            .and_then(|entry| entry.task_id)
            .and_then(|task_id| self.0.tasks.get(&task_id))
            .map(|task| task.rows.clone())
            .unwrap_or_default()
    }

    /// The instance's tasks version (forgejo.md §3.4 step 2).
    pub fn tasks_version(&self) -> i64 {
        self.0.tasks_version
    }
}
