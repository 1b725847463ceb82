//! A job's events turned into the log rows and step states Forgejo shows.
//!
//! Forgejo's UI reads one flat array of rows per task and cuts it by the step states' ranges
//! (`log_index`, `log_length`): rows before the first step are "Set up job", each step's rows
//! follow contiguously in step order, and whatever comes after the last step is "Complete job"
//! (docs: `/work/shared/protocols/forgejo.md` §4). [`Ledger`] keeps that layout while events
//! arrive in any order the bus allows, and remembers which rows and outputs the server has
//! acknowledged; it is plain data, saved as JSON through a [`Checkpoint`] so a restarted runner
//! resumes where it stopped. [`Reporter`] drives a [`TaskSink`] (the Connect client) from it.
//!
//! How the daemon uses it, per task:
//! 1. `Ledger::new(task.id, translated.step_count)` (or `Ledger::from_json` of the store's
//!    `runner_task` after a restart), `set_secrets` with the task's secret values, `note_setup`
//!    for the runner's own setup lines. A task that cannot be translated gets
//!    `ledger.fail(now, &error.to_string(), TaskResult::Failure)` and a run on a closed channel:
//!    it only reports the end.
//! 2. `Reporter::new(ledger, ReportConfig::default())`; take `cancel_requested()` (publish a
//!    cancel on the bus when it turns `Some`) and `saved_mark()` (ack each bus delivery of the
//!    job whose `(attempt, seq)` is at or below it — never earlier: the saved state is what makes
//!    an acked event safe to lose).
//! 3. `run(&sink, events, &mut StoreCheckpoint::new(store, runner_id, &task.id.to_string()))`,
//!    feeding the job's events into the channel. `Finished` → remove the runner task state;
//!    `Detached` (the channel closed) → keep it for the next start; an error → the forge refuses
//!    us (unauthenticated) or was unreachable for `give_up_after`.

mod checkpoint;
mod ledger;
mod reporter;
mod row;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use checkpoint::{Checkpoint, CheckpointError, StoreCheckpoint};
pub use ledger::{Applied, Ledger, Mark};
pub use reporter::{ReportConfig, ReportEnd, ReportError, Reporter};
pub use row::{rows, rows_from_bytes};

/// `runner.v1.Result`; the discriminants are its wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskResult {
    /// Not final: the task or step still runs (or never ran).
    #[default]
    Unspecified = 0,
    Success = 1,
    Failure = 2,
    Cancelled = 3,
    Skipped = 4,
}

impl TaskResult {
    /// Whether this is a final result.
    pub fn is_final(self) -> bool {
        self != TaskResult::Unspecified
    }
}

impl From<contract::Outcome> for TaskResult {
    fn from(outcome: contract::Outcome) -> Self {
        match outcome {
            contract::Outcome::Success => TaskResult::Success,
            contract::Outcome::Failure => TaskResult::Failure,
            contract::Outcome::Cancelled => TaskResult::Cancelled,
            contract::Outcome::Skipped => TaskResult::Skipped,
        }
    }
}

/// One log row: one line, valid UTF-8, at most [`MAX_ROW_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub content: String,
}

/// A step as `runner.v1.StepState` carries it; `id` is the 0-based index into the payload job's
/// steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    pub id: i64,
    pub result: TaskResult,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub stopped_at: Option<OffsetDateTime>,
    pub log_index: i64,
    pub log_length: i64,
}

/// `runner.v1.TaskState`: always the full step list (a step left out keeps stale ranges on the
/// server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStateView {
    pub id: i64,
    pub result: TaskResult,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub stopped_at: Option<OffsetDateTime>,
    pub steps: Vec<StepView>,
}

/// The server's answer to an UpdateTask.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskAnswer {
    /// The server's result: [`TaskResult::Unspecified`] unless the task is final there
    /// (cancelled by a user, failed by zombie cleanup, or finished by us).
    pub result: TaskResult,
    /// Every output key the server has stored for the task so far.
    pub sent_outputs: Vec<String>,
}

/// Why a call to the forge failed, sorted by what the reporter does about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Transport errors, 5xx, `unavailable`, a proxy's non-JSON page: retry with backoff.
    #[error("reach the forge: {0}")]
    Transient(String),
    /// The runner was deleted or its token is wrong: stop reporting.
    #[error("authenticate with the forge: {0}")]
    Unauthenticated(String),
    /// UpdateLog answered `already_exists`: the log is archived, rows are no longer taken.
    #[error("append to the task log: it is already archived")]
    LogArchived,
    /// Any other Connect error.
    #[error("have the forge accept the update: {0}")]
    Rejected(String),
}

/// Where a task's rows and state go: Forgejo's UpdateLog and UpdateTask.
#[async_trait]
pub trait TaskSink: Send + Sync {
    /// Appends `rows`, the first of which has the absolute row index `index`; `no_more` marks the
    /// last batch. Returns the server's `ack_index`: how many rows it holds.
    async fn update_log(&self, task_id: i64, index: i64, rows: &[Row], no_more: bool) -> Result<i64, SinkError>;

    /// Sends the task's state and the outputs the server has not acknowledged yet.
    async fn update_task(
        &self,
        state: &TaskStateView,
        outputs: &BTreeMap<String, String>,
    ) -> Result<TaskAnswer, SinkError>;
}

/// Forgejo truncates longer rows; we split them instead.
pub const MAX_ROW_BYTES: usize = 64 * 1024;
