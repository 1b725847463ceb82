//! A stateful fake of GitHub's self-hosted runner services, written from the protocol reference
//! `/work/shared/protocols/github.md` (cited below as "ref §n") before any client existed.
//!
//! One axum server on `127.0.0.1:0` plays every host a runner talks to, each on its own path
//! prefix of the same base URL, and every URL it hands out points back at itself:
//! - `{base}/OWNER/REPO` is the web URL a runner registers with;
//! - `{base}/api/v3/` is the REST API, as on GitHub Enterprise Server (a loopback host is not
//!   github.com, so a client takes the GHES branch, or reaches it through an API-base override);
//! - `{base}/pipelines/` is the tenant of the legacy flow (ref §1.4);
//! - `{base}/oauth/token` is the OAuth token endpoint (ref §2);
//! - `{base}/broker/` is the broker (`server_url`, ref §3.3);
//! - `{base}/run/` is the run service (`run_service_url` and the SystemVssConnection `url`, ref §4);
//! - `{base}/results/` is the Results service (ref §5.3–§5.4) and `{base}/blobs/` its blob store;
//! - `ws://…/feed/<job id>` is the live console (`FeedStreamUrl`, ref §5.2).
//!
//! The fake is strict where the reference says the server is: unknown tokens are refused, a JWT
//! must be signed with the registered key, and so on. Tests drive it with the methods of
//! [`FakeGithub`] and read what a user would see.

mod api_error;
mod broker;
mod jit_config;
mod job_spec;
mod jwt;
mod legacy;
mod live_console;
mod oauth;
mod registration;
mod results;
mod rsa_key;
mod run_service;
mod server;
mod state;
mod view;

use std::sync::Arc;

pub use job_spec::{JobSpec, StepSpec};
pub use state::{JobPhase, RunnerView};
pub use view::{JobView, StepView};

/// How the fake behaves where the reference leaves the server a choice.
#[derive(Debug, Clone)]
pub struct Config {
    /// What `runner-registration` answers in `use_v2_flow` (ref §1.1): `true` sends clients to
    /// the runner-admin flow (§1.3), `false` to the legacy pipelines flow (§1.4).
    pub use_v2_flow: bool,
    /// Whether the legacy flow's agent properties carry `UseV2Flow`/`ServerUrlV2` (ref §1.4
    /// step 3), forcing the broker listener as github.com does.
    pub legacy_forces_broker: bool,
    /// How long the broker holds an empty message poll (ref §3.7: about 50 s on github.com);
    /// tests shorten it so an idle poll costs little.
    pub long_poll: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { use_v2_flow: true, legacy_forces_broker: true, long_poll: std::time::Duration::from_secs(50) }
    }
}

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("bind 127.0.0.1:0")]
    Bind(#[source] std::io::Error),
}

/// A running fake GitHub. Dropping it stops the server.
pub struct FakeGithub {
    base: String,
    shared: Arc<state::Shared>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeGithub {
    /// Starts the fake on a fresh loopback port.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let base = format!("http://{addr}");
        let shared = Arc::new(state::Shared::new(config, base.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let app = server::router(shared.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "fake github server stopped");
            }
        });
        Ok(Self { base, shared, _shutdown: tx })
    }

    /// The server's base URL, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The web URL of a repository, what a user passes to `config.sh --url`.
    pub fn repo_url(&self, owner: &str, repo: &str) -> String {
        format!("{}/{owner}/{repo}", self.base)
    }

    /// The REST API base as on GHES (`<host>/api/v3/`), for an API-base override too.
    pub fn api_url(&self) -> String {
        format!("{}/api/v3/", self.base)
    }

    /// Mints a registration token, as the "New self-hosted runner" page shows one (ref §1.1).
    pub fn registration_token(&self) -> String {
        self.shared.mint_registration_token(state::TokenKind::Register)
    }

    /// Mints a remove token (ref §1.1, `runner_event: "remove"`).
    pub fn remove_token(&self) -> String {
        self.shared.mint_registration_token(state::TokenKind::Remove)
    }

    /// A personal access token with runner-admin rights, for minting registration and remove
    /// tokens through the REST API (ref §1.1).
    pub fn admin_token(&self) -> String {
        let token = format!("ghp_{}", uuid::Uuid::new_v4().simple());
        self.shared.lock().admin_tokens.push(token.clone());
        token
    }

    /// The runners registered now, as the repository's runner settings page lists them.
    pub fn runners(&self) -> Vec<RunnerView> {
        self.shared.runners()
    }

    /// Deletes a runner as a user would from the settings page; its OAuth client stops working.
    pub fn delete_runner(&self, id: u64) -> bool {
        self.shared.delete_runner(id)
    }

    /// Queues a job for a runner whose labels include all of `labels`; returns the job id.
    pub fn queue_job(&self, labels: &[&str]) -> String {
        self.queue(JobSpec::new("build", labels, &[("hello", "echo hello")]))
    }

    /// Queues the job `spec` describes; returns its id (`jobId` in the message).
    pub fn queue(&self, spec: JobSpec) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let plan_id = uuid::Uuid::new_v4().to_string();
        let job_token = format!("job-{}", uuid::Uuid::new_v4().simple());
        let step_ids: Vec<String> = spec.steps.iter().map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let mut inner = self.shared.lock();
        let ids = job_spec::MessageIds {
            base: &self.base,
            plan_id: &plan_id,
            job_id: &id,
            job_token: &job_token,
            step_ids: &step_ids,
            request_id: inner.jobs.len() as i64 + 1,
        };
        let message = job_spec::message(&spec, &ids);
        inner.jobs.push(state::Job {
            id: id.clone(),
            labels: spec.labels.clone(),
            runner_request_id: uuid::Uuid::new_v4().to_string(),
            phase: JobPhase::Queued,
            cancelled: false,
            plan_id,
            job_token,
            message,
            renewals: 0,
            completion: None,
            steps: Default::default(),
            change_order: 0,
            job_log: None,
        });
        drop(inner);
        self.shared.changed();
        id
    }

    /// What the job's page shows now, or `None` for an unknown id.
    pub fn view(&self, job_id: &str) -> Option<JobView> {
        self.shared.lock().jobs.iter().find(|j| j.id == job_id).map(view::job_view)
    }

    /// How many times the job's lock was renewed (ref §4.3).
    pub fn renewals(&self, job_id: &str) -> Option<u32> {
        self.shared.lock().jobs.iter().find(|j| j.id == job_id).map(|j| j.renewals)
    }

    /// The completejob body the runner sent (ref §4.4), as received.
    pub fn completion(&self, job_id: &str) -> Option<serde_json::Value> {
        self.shared.lock().jobs.iter().find(|j| j.id == job_id).and_then(|j| j.completion.clone())
    }

    /// Where a job is, or `None` for an unknown id.
    pub fn job_phase(&self, job_id: &str) -> Option<JobPhase> {
        self.shared.lock().jobs.iter().find(|j| j.id == job_id).map(|j| j.phase.clone())
    }

    /// Cancels a job as the "Cancel workflow" button does: a runner holding it gets a
    /// `JobCancellation` message (ref §3.6, §4.5); a queued job is never offered.
    pub fn cancel_job(&self, job_id: &str) {
        {
            let mut inner = self.shared.lock();
            let Some(job) = inner.jobs.iter_mut().find(|j| j.id == job_id) else {
                return;
            };
            job.cancelled = true;
            let holder = match job.phase {
                JobPhase::Completed { .. } => None,
                ref phase => phase.runner(),
            };
            if let Some(runner_id) = holder {
                let body = serde_json::json!({"jobId": job_id, "timeout": "00:05:00"});
                broker::push_message(&mut inner, runner_id, "JobCancellation", &body);
            }
        }
        self.shared.changed();
    }

    /// The `status` of the runner's latest poll (`Online`/`Busy`), `None` without a session.
    pub fn runner_status(&self, runner_id: u64) -> Option<String> {
        let inner = self.shared.lock();
        inner.sessions.values().find(|s| s.runner_id == runner_id).map(|s| s.status.clone())
    }

    /// Fault: answer the next `calls` authenticated service calls with 503.
    pub fn fail_next(&self, calls: u32) {
        self.shared.lock().faults.unavailable = calls;
    }

    /// Fault: an outage of the broker and run service, every call answered 503 for `how_long`
    /// or until [`FakeGithub::recover`].
    pub fn fail_for(&self, how_long: std::time::Duration) {
        self.shared.lock().faults.unavailable_until = Some(std::time::Instant::now() + how_long);
    }

    /// Fault: an outage of Results (ref §5.3, §5.4): its twirp calls and the signed blob
    /// uploads are answered 503 for `how_long` or until [`FakeGithub::recover`].
    pub fn fail_results_for(&self, how_long: std::time::Duration) {
        self.shared.lock().faults.results_unavailable_until = Some(std::time::Instant::now() + how_long);
    }

    /// How many Results calls the outages of [`FakeGithub::fail_results_for`] refused.
    pub fn results_refused(&self) -> u32 {
        self.shared.lock().faults.results_refused
    }

    /// Ends an outage and any counted failures.
    pub fn recover(&self) {
        let mut inner = self.shared.lock();
        inner.faults.unavailable_until = None;
        inner.faults.results_unavailable_until = None;
        inner.faults.unavailable = 0;
    }

    /// Fault: every runner OAuth token stops working (401), forcing a refresh (ref §2, §6).
    pub fn expire_tokens(&self) {
        self.shared.lock().access_tokens.clear();
        self.shared.changed();
    }

    /// Fault: another process holds a session for this runner, so creating one conflicts (409).
    pub fn occupy_session(&self, runner_id: u64) {
        let session = state::Session { runner_id, status: "Online".into() };
        self.shared.lock().sessions.insert(uuid::Uuid::new_v4().to_string(), session);
        self.shared.changed();
    }

    /// Fault: the broker forgets every session, so polls answer `RunnerSessionInvalid`.
    pub fn invalidate_sessions(&self) {
        self.shared.lock().sessions.clear();
        self.shared.changed();
    }

    /// Waits until `check` holds for the fake's state or the deadline passes; woken by every
    /// change, never by polling.
    pub async fn wait_for<T>(
        &self,
        deadline: std::time::Duration,
        mut check: impl FnMut(&FakeGithub) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.shared.subscribe();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(found) = check(self) {
                return Some(found);
            }
            match tokio::time::timeout_at(until, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return check(self),
            }
        }
    }
}
