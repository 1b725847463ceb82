//! What the store holds and what its operations report, as plain data.

use std::path::PathBuf;

use contract::{JobRequest, JobResult};
use time::OffsetDateTime;
use ulid::Ulid;

/// A job as recorded, with its attempts in order.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub job_id: Ulid,
    /// The latest attempt recorded.
    pub attempt: u32,
    /// The state of the latest attempt.
    pub state: AttemptState,
    pub label: String,
    pub runner_id: String,
    /// The latest attempt's request, secrets still sealed. Its `origin` is the job's origin.
    pub request: JobRequest,
    pub recorded_at: OffsetDateTime,
    /// Every attempt recorded, the first first.
    pub attempts: Vec<Attempt>,
}

/// One attempt of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub job_id: Ulid,
    pub attempt: u32,
    /// The orchestrator that owns it: recorded it, started it or took it over.
    pub orchestrator_id: String,
    pub state: AttemptState,
    pub recorded_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub result: Option<JobResult>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptState {
    /// Recorded, not started: nothing ran yet, so it can still run anywhere.
    Queued,
    /// An executor was started for it; if its orchestrator dies, the attempt cannot resume.
    Started,
    Finished,
}

/// What [`Store::record_job`](crate::Store::record_job) did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The attempt is new; it is queued and owned by the recording orchestrator.
    New,
    /// The attempt was recorded before (a redelivery); nothing changed. Here is how it stands.
    Existing(Attempt),
}

/// What [`Store::start_attempt`](crate::Store::start_attempt) did.
#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    /// The attempt was queued and is now started and owned by the caller: run it.
    Started,
    /// Someone started it before. If that orchestrator is gone, so is the VM's SSH key: fail
    /// the attempt with a clear message rather than run it again (brief §3.5).
    AlreadyStarted {
        orchestrator_id: String,
        started_at: Option<OffsetDateTime>,
    },
    AlreadyFinished {
        result: Option<JobResult>,
    },
    /// A tombstone covers it; it stays queued. Finish it as cancelled.
    Cancelled(Tombstone),
    /// It is queued and owned by a peer whose lease is alive: leave it to that peer, or to
    /// whoever takes the peer's attempts over once its lease expires.
    OwnedByPeer {
        orchestrator_id: String,
    },
    /// No such attempt was recorded.
    NotRecorded,
}

/// What [`Store::finish_attempt`](crate::Store::finish_attempt) did.
#[derive(Debug, Clone, PartialEq)]
pub enum FinishOutcome {
    Finished,
    /// It was finished before; the first result stands.
    AlreadyFinished {
        result: Option<JobResult>,
    },
    /// Another orchestrator owns it (it took the attempt over); the caller lost it.
    NotOwner {
        orchestrator_id: String,
    },
    NotRecorded,
}

/// An orchestrator's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub orchestrator_id: String,
    pub expires_at: OffsetDateTime,
}

/// What [`Store::take_over`](crate::Store::take_over) did.
#[derive(Debug, Clone, PartialEq)]
pub enum TakeOver {
    /// The peer's lease had expired and is gone now; these unfinished attempts (queued or
    /// started) belong to the taker. Queued ones can still run; started ones must be failed.
    Taken(Vec<Attempt>),
    /// The peer's lease is alive: nothing changed.
    LeaseAlive { expires_at: OffsetDateTime },
    /// The peer holds no lease: never had one, or another orchestrator took it over first.
    NoLease,
}

/// A VM an orchestrator started, for reconciliation after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRecord {
    pub vm_id: String,
    pub job_id: Ulid,
    pub attempt: u32,
    pub orchestrator_id: String,
    /// QEMU's pid, once it was spawned.
    pub pid: Option<u32>,
    pub qmp_socket: PathBuf,
    pub overlay: PathBuf,
    pub state: VmState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmState {
    Booting,
    Running,
    /// Being torn down; the record goes once the VM and its overlay are gone.
    Stopping,
}

/// Which attempts a tombstone covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TombstoneScope {
    Attempt(u32),
    AllAttempts,
}

/// A recorded cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub job_id: Ulid,
    pub scope: TombstoneScope,
    pub reason: String,
    pub created_at: OffsetDateTime,
}

/// A forge runner's saved state for one of its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerTask {
    pub runner_id: String,
    /// The runner's own reference for the task (a Forgejo task id, a GitHub job id).
    pub task_ref: String,
    pub state: serde_json::Value,
    pub updated_at: OffsetDateTime,
}

impl AttemptState {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Queued => "queued",
            AttemptState::Started => "started",
            AttemptState::Finished => "finished",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Self> {
        [AttemptState::Queued, AttemptState::Started, AttemptState::Finished].into_iter().find(|s| s.as_str() == word)
    }
}

impl VmState {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Booting => "booting",
            VmState::Running => "running",
            VmState::Stopping => "stopping",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Self> {
        [VmState::Booting, VmState::Running, VmState::Stopping].into_iter().find(|s| s.as_str() == word)
    }
}

/// A cancel's `attempt` (`contract::CancelRequest`): `None` cancels every attempt.
impl From<Option<u32>> for TombstoneScope {
    fn from(attempt: Option<u32>) -> Self {
        attempt.map_or(TombstoneScope::AllAttempts, TombstoneScope::Attempt)
    }
}

impl TombstoneScope {
    /// The scope of a stored attempt column: the attempt number, 0 for every attempt.
    pub(crate) fn from_column(value: i64) -> Option<Self> {
        match value {
            0 => Some(TombstoneScope::AllAttempts),
            n => u32::try_from(n).ok().map(TombstoneScope::Attempt),
        }
    }
}

pub(crate) fn parse_result(word: &str) -> Option<JobResult> {
    [JobResult::Success, JobResult::Failure, JobResult::Cancelled, JobResult::Skipped]
        .into_iter()
        .find(|r| r.as_str() == word)
}
