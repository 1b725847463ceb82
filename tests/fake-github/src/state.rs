//! What the fake remembers: tokens, runner groups, runners and their OAuth clients.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use rsa::RsaPublicKey;
use tokio::sync::watch;

use crate::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Register,
    Remove,
}

/// A runner group (ref §1.3 `runner-groups`; §1.4 `pools`).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: u64,
    pub name: String,
    pub default: bool,
    pub is_hosted: bool,
}

/// A registered runner as the settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerView {
    pub id: u64,
    pub name: String,
    pub labels: Vec<String>,
    pub group_id: u64,
    pub ephemeral: bool,
    /// The OAuth client id the runner authenticates as (ref §1.3 `client_id`).
    pub client_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Runner {
    pub view: RunnerView,
    pub public_key: RsaPublicKey,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// The server's base URL, for the URLs that messages carry.
    pub base: String,
    pub registration_tokens: HashMap<String, TokenKind>,
    /// Tenant bearer tokens handed out by runner-registration (ref §1.1).
    pub tenant_tokens: Vec<String>,
    /// Personal access tokens with runner-admin rights (ref §1.1, minting registration tokens).
    pub admin_tokens: Vec<String>,
    pub groups: Vec<Group>,
    pub runners: BTreeMap<u64, Runner>,
    pub next_runner_id: u64,
    /// Runner OAuth access tokens (ref §2) → runner id.
    pub access_tokens: HashMap<String, u64>,
    /// Broker sessions (ref §3.3) by session id.
    pub sessions: HashMap<String, Session>,
    /// Jobs in the order they were queued.
    pub jobs: Vec<Job>,
    /// Messages waiting for a runner's next poll (ref §3.6), by runner id.
    pub mailboxes: HashMap<u64, std::collections::VecDeque<serde_json::Value>>,
    pub next_message_id: i64,
    pub faults: Faults,
    /// The blob store behind the signed URLs (ref §5.4), by blob id.
    pub blobs: HashMap<String, Blob>,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub runner_id: u64,
    /// The `status` of the runner's latest poll (ref §3.3): `Online` or `Busy`.
    pub status: String,
}

/// What a test asked the fake to get wrong.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Answer this many broker/run-service calls with 503.
    pub unavailable: u32,
    /// Answer every broker/run-service call with 503 until then (an outage).
    pub unavailable_until: Option<std::time::Instant>,
    /// Answer every Results call (twirp and blob uploads) with 503 until then.
    pub results_unavailable_until: Option<std::time::Instant>,
    /// How many Results calls were answered 503.
    pub results_refused: u32,
}

impl Faults {
    /// Whether Results answers this call 503 (and counts it if so).
    pub fn results_unavailable(&mut self) -> bool {
        let down = self.results_unavailable_until.is_some_and(|until| std::time::Instant::now() < until);
        self.results_refused += u32::from(down);
        down
    }

    /// Whether this call is answered 503, using up one counted failure if so.
    pub fn take_unavailable(&mut self) -> bool {
        if self.unavailable_until.is_some_and(|until| std::time::Instant::now() < until) {
            return true;
        }
        if self.unavailable > 0 {
            self.unavailable -= 1;
            return true;
        }
        false
    }
}

/// Where a queued job is, as the workflow run page would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobPhase {
    /// Waiting for a runner with matching labels.
    Queued,
    /// Offered to a runner in a `RunnerJobRequest` message.
    Offered { runner_id: u64 },
    /// The runner acknowledged the message (ref §3.3 acknowledge).
    Acknowledged { runner_id: u64 },
    /// The runner fetched the job message (ref §4.1 acquirejob).
    Acquired { runner_id: u64 },
    /// The runner reported the end (ref §4.4 completejob).
    Completed { runner_id: u64 },
}

impl JobPhase {
    /// The runner holding the job, if any.
    pub fn runner(&self) -> Option<u64> {
        match *self {
            JobPhase::Queued => None,
            JobPhase::Offered { runner_id }
            | JobPhase::Acknowledged { runner_id }
            | JobPhase::Acquired { runner_id }
            | JobPhase::Completed { runner_id } => Some(runner_id),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: String,
    pub labels: Vec<String>,
    /// The `runner_request_id` of the broker message (ref §3.6).
    pub runner_request_id: String,
    pub phase: JobPhase,
    pub cancelled: bool,
    pub plan_id: String,
    /// The job access token (ref §0, third kind), handed out in the message only.
    pub job_token: String,
    /// The `AgentJobRequestMessage` acquirejob returns (ref §4.2).
    pub message: serde_json::Value,
    /// How many renewjob calls succeeded (ref §4.3).
    pub renewals: u32,
    /// The completejob body (ref §4.4), once received.
    pub completion: Option<serde_json::Value>,
    /// Step records from WorkflowStepsUpdate (ref §5.3), by `external_id`.
    pub steps: BTreeMap<String, StepRecord>,
    pub change_order: i64,
    /// The job log once its metadata arrived (ref §5.4).
    pub job_log: Option<String>,
}

/// One step as the Results service knows it (ref §5.3, §5.4).
#[derive(Debug, Clone, Default)]
pub(crate) struct StepRecord {
    pub number: i64,
    pub name: String,
    pub status: i64,
    pub conclusion: i64,
    pub log: Option<String>,
    pub summary: Option<String>,
    /// Live-console lines (ref §5.2) by their 1-based line number within the step.
    pub live: BTreeMap<i64, String>,
}

/// What a signed blob URL is for (ref §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlobTarget {
    StepLog { job_id: String, step_id: String },
    JobLog { job_id: String },
    StepSummary { job_id: String, step_id: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub signature: String,
    pub target: BlobTarget,
    pub data: Vec<u8>,
    /// Append-blob uploads are sealed by the last block (ref §5.4).
    pub sealed: bool,
    pub created: bool,
}

pub(crate) struct Shared {
    pub config: Config,
    pub base: String,
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
}

impl Shared {
    pub fn new(config: Config, base: String) -> Self {
        let groups = vec![
            Group { id: 1, name: "Default".into(), default: true, is_hosted: false },
            Group { id: 2, name: "GitHub Actions".into(), default: false, is_hosted: true },
        ];
        let inner = Inner {
            base: base.clone(),
            registration_tokens: HashMap::new(),
            tenant_tokens: Vec::new(),
            admin_tokens: Vec::new(),
            groups,
            runners: BTreeMap::new(),
            next_runner_id: 1,
            access_tokens: HashMap::new(),
            sessions: HashMap::new(),
            jobs: Vec::new(),
            mailboxes: HashMap::new(),
            next_message_id: 1,
            faults: Faults::default(),
            blobs: HashMap::new(),
        };
        Self { config, base, inner: Mutex::new(inner), changes: watch::channel(0).0 }
    }

    /// Locks the state. A poisoned lock only means a handler panicked mid-update; the fake keeps
    /// serving what is there so the test sees the real failure rather than a cascade.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes everyone waiting on a change.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn mint_registration_token(&self, kind: TokenKind) -> String {
        let token = format!("A{}", uuid::Uuid::new_v4().simple()).to_uppercase();
        self.lock().registration_tokens.insert(token.clone(), kind);
        token
    }

    pub fn runners(&self) -> Vec<RunnerView> {
        self.lock().runners.values().map(|r| r.view.clone()).collect()
    }

    pub fn delete_runner(&self, id: u64) -> bool {
        let removed = {
            let mut inner = self.lock();
            // Tokens already issued stay valid until they expire, so the runner's next poll
            // learns of the deletion as `RunnerNotFound` (ref §3.3, §6).
            inner.sessions.retain(|_, session| session.runner_id != id);
            inner.runners.remove(&id).is_some()
        };
        self.changed();
        removed
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub fn authorization_url(&self) -> String {
        self.url("oauth/token")
    }
}
