//! Rows as the databases return them, and their checked conversion into the model. Each backend
//! reads its columns into these (timestamps already converted); everything that can be wrong
//! with stored data is caught here, once, for both.

use std::ops::Range;
use std::path::PathBuf;

use contract::JobRequest;
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

use crate::StoreError;
use crate::model::{self, Attempt, AttemptState, JobRecord, Lease, RunnerTask, Tombstone, TombstoneScope, VmRecord};

pub(crate) struct JobRow {
    pub job_id: String,
    pub attempt: i64,
    pub state: String,
    pub label: String,
    pub runner_id: String,
    pub request: String,
    pub recorded_at: OffsetDateTime,
}

pub(crate) struct AttemptRow {
    pub job_id: String,
    pub attempt: i64,
    pub orchestrator_id: String,
    pub state: String,
    pub recorded_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub result: Option<String>,
    pub error: Option<String>,
}

pub(crate) struct VmRow {
    pub vm_id: String,
    pub job_id: String,
    pub attempt: i64,
    pub orchestrator_id: String,
    pub pid: Option<i64>,
    pub qmp_socket: String,
    pub overlay: String,
    pub state: String,
}

pub(crate) struct TombstoneRow {
    pub job_id: String,
    pub attempt: i64,
    pub reason: String,
    pub created_at: OffsetDateTime,
}

pub(crate) struct RunnerTaskRow {
    pub runner_id: String,
    pub task_ref: String,
    pub state: String,
    pub updated_at: OffsetDateTime,
}

/// The columns every attempt query selects, as a literal for `concat!`.
macro_rules! attempt_columns {
    () => {
        "job_id, attempt, orchestrator_id, state, recorded_at, started_at, finished_at, result, error"
    };
}

/// The columns every VM query selects, as a literal for `concat!`.
macro_rules! vm_columns {
    () => {
        "vm_id, job_id, attempt, orchestrator_id, pid, qmp_socket, overlay, state"
    };
}

pub(crate) use {attempt_columns, vm_columns};

impl JobRow {
    pub fn into_record(self, attempts: Vec<Attempt>) -> Result<JobRecord, StoreError> {
        const WHAT: &str = "read a job";
        let request: JobRequest = serde_json::from_str(&self.request)
            .map_err(|error| StoreError::corrupt(WHAT, format!("a request that does not deserialize: {error}")))?;
        Ok(JobRecord {
            job_id: job_id(WHAT, &self.job_id)?,
            attempt: attempt(WHAT, self.attempt)?,
            state: attempt_state(WHAT, &self.state)?,
            label: self.label,
            runner_id: self.runner_id,
            request,
            recorded_at: self.recorded_at,
            attempts,
        })
    }
}

impl AttemptRow {
    pub fn into_attempt(self) -> Result<Attempt, StoreError> {
        const WHAT: &str = "read an attempt";
        let result = match self.result.as_deref() {
            None => None,
            Some(word) => Some(
                model::parse_result(word).ok_or_else(|| StoreError::corrupt(WHAT, format!("the result {word:?}")))?,
            ),
        };
        Ok(Attempt {
            job_id: job_id(WHAT, &self.job_id)?,
            attempt: attempt(WHAT, self.attempt)?,
            orchestrator_id: self.orchestrator_id,
            state: attempt_state(WHAT, &self.state)?,
            recorded_at: self.recorded_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            result,
            error: self.error,
        })
    }
}

impl VmRow {
    pub fn into_record(self) -> Result<VmRecord, StoreError> {
        const WHAT: &str = "read a VM record";
        let pid = match self.pid {
            None => None,
            Some(pid) => Some(u32::try_from(pid).map_err(|_| StoreError::corrupt(WHAT, format!("the pid {pid}")))?),
        };
        Ok(VmRecord {
            vm_id: self.vm_id,
            job_id: job_id(WHAT, &self.job_id)?,
            attempt: attempt(WHAT, self.attempt)?,
            orchestrator_id: self.orchestrator_id,
            pid,
            qmp_socket: PathBuf::from(self.qmp_socket),
            overlay: PathBuf::from(self.overlay),
            state: model::VmState::parse(&self.state)
                .ok_or_else(|| StoreError::corrupt(WHAT, format!("the VM state {:?}", self.state)))?,
        })
    }
}

impl TombstoneRow {
    pub fn into_tombstone(self) -> Result<Tombstone, StoreError> {
        const WHAT: &str = "read a tombstone";
        Ok(Tombstone {
            job_id: job_id(WHAT, &self.job_id)?,
            scope: TombstoneScope::from_column(self.attempt)
                .ok_or_else(|| StoreError::corrupt(WHAT, format!("the attempt {}", self.attempt)))?,
            reason: self.reason,
            created_at: self.created_at,
        })
    }
}

impl RunnerTaskRow {
    pub fn into_task(self) -> Result<RunnerTask, StoreError> {
        const WHAT: &str = "read a runner task";
        let state = serde_json::from_str(&self.state)
            .map_err(|error| StoreError::corrupt(WHAT, format!("a state that is not JSON: {error}")))?;
        Ok(RunnerTask { runner_id: self.runner_id, task_ref: self.task_ref, state, updated_at: self.updated_at })
    }
}

/// The request and its origin as JSON text, secrets still sealed as the bus carried them.
pub(crate) fn request_json(what: &'static str, request: &JobRequest) -> Result<(String, String), StoreError> {
    let encode = |error: serde_json::Error| StoreError::Invalid {
        what,
        detail: format!("the request does not serialize: {error}"),
    };
    Ok((serde_json::to_string(request).map_err(encode)?, serde_json::to_string(&request.origin).map_err(encode)?))
}

/// When a lease renewed at `now` for `ttl` expires.
pub(crate) fn expiry(what: &'static str, now: OffsetDateTime, ttl: Duration) -> Result<OffsetDateTime, StoreError> {
    if ttl <= Duration::ZERO {
        return Err(StoreError::Invalid { what, detail: format!("a lease ttl must be positive, not {ttl}") });
    }
    now.checked_add(ttl).ok_or_else(|| StoreError::Invalid { what, detail: format!("{now} + {ttl} is out of range") })
}

/// The `count` sequence numbers ending at the new mark `last`.
pub(crate) fn seq_range(what: &'static str, last: i64, count: u32) -> Result<Range<u64>, StoreError> {
    let last = seq_mark(what, last)?;
    let first = (last + 1)
        .checked_sub(u64::from(count))
        .ok_or_else(|| StoreError::corrupt(what, format!("the sequence mark {last} below the {count} just added")))?;
    Ok(first..last + 1)
}

pub(crate) fn seq_mark(what: &'static str, last: i64) -> Result<u64, StoreError> {
    u64::try_from(last).map_err(|_| StoreError::corrupt(what, format!("the sequence mark {last}")))
}

/// The tombstone scope as stored: the attempt number, 0 for every attempt.
pub(crate) fn scope_column(what: &'static str, scope: TombstoneScope) -> Result<i64, StoreError> {
    match scope {
        TombstoneScope::Attempt(attempt) => check::attempt(what, attempt),
        TombstoneScope::AllAttempts => Ok(0),
    }
}

pub(crate) fn lease(orchestrator_id: String, expires_at: OffsetDateTime) -> Lease {
    Lease { orchestrator_id, expires_at }
}

fn job_id(what: &'static str, text: &str) -> Result<Ulid, StoreError> {
    Ulid::from_string(text).map_err(|_| StoreError::corrupt(what, format!("the job id {text:?}, which is no ULID")))
}

fn attempt(what: &'static str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::corrupt(what, format!("the attempt number {value}")))
}

fn attempt_state(what: &'static str, word: &str) -> Result<AttemptState, StoreError> {
    AttemptState::parse(word).ok_or_else(|| StoreError::corrupt(what, format!("the attempt state {word:?}")))
}

/// The checks on arguments both backends make before touching the database.
pub(crate) mod check {
    use std::borrow::Cow;
    use std::path::Path;

    use crate::StoreError;

    /// Attempts are numbered from 1, as the forges count them.
    pub fn attempt(what: &'static str, attempt: u32) -> Result<i64, StoreError> {
        if attempt == 0 {
            return Err(StoreError::Invalid { what, detail: "attempt numbers start at 1".into() });
        }
        Ok(i64::from(attempt))
    }

    /// Free text (an error, a cancel reason) as stored: PostgreSQL's text cannot hold a NUL, so
    /// it becomes U+FFFD on both databases alike.
    pub fn text(text: &str) -> Cow<'_, str> {
        if text.contains('\0') { Cow::Owned(text.replace('\0', "\u{fffd}")) } else { Cow::Borrowed(text) }
    }

    /// Paths are stored as text; a path that is not UTF-8 could not be read back as it was.
    pub fn path<'p>(what: &'static str, path: &'p Path) -> Result<&'p str, StoreError> {
        path.to_str().ok_or_else(|| StoreError::Invalid { what, detail: format!("{} is not UTF-8", path.display()) })
    }
}
