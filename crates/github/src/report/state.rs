//! What a report remembers, saved so a restarted runner goes on where it was: the event mark,
//! the change order, each step's state and line counts, the synthetic steps' GUIDs. The logs
//! themselves are the spool files on disk.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use store::{Store, StoreError};

use crate::job::{AnnotationBody, Conclusion, JobContext};
use crate::results::StepStatus;

/// Where a job's event stream is: events at or before it are applied (and, once saved, may be
/// acked). Events are ordered by attempt, then seq, as the orchestrator stamps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mark {
    pub attempt: u32,
    pub seq: u64,
}

/// One row of the step list: "Set up job", a job step, or "Complete job".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub external_id: String,
    pub number: u32,
    pub name: String,
    pub status: StepStatus,
    pub conclusion: Option<Conclusion>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// Lines in the step's spool file (every attempt's, plus our own lines).
    pub lines: u64,
    /// The highest line number of the orchestrator's numbering seen in the current attempt, so
    /// redelivered or overlapping lines are not written twice.
    pub attempt_lines: u64,
    pub annotations: Vec<AnnotationBody>,
}

impl StepState {
    pub(super) fn new(external_id: String, number: u32, name: String) -> StepState {
        StepState {
            external_id,
            number,
            name,
            status: StepStatus::Pending,
            conclusion: None,
            started_at: None,
            completed_at: None,
            lines: 0,
            attempt_lines: 0,
            annotations: Vec::new(),
        }
    }
}

/// Everything a report needs to continue after a runner restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportState {
    /// The last event applied.
    pub mark: Option<Mark>,
    /// The last `change_order` sent to Results (ref §5.3: monotonic from 1).
    pub change_order: u64,
    /// "Set up job", each job step in order, "Complete job".
    pub steps: Vec<StepState>,
    /// Annotations of no step, for completejob's job-level list.
    pub annotations: Vec<AnnotationBody>,
    /// Lines in the job log's spool file.
    pub job_lines: u64,
}

impl ReportState {
    /// The state of a job nothing was reported of yet: every step pending; the synthetic
    /// steps get fresh GUIDs, kept here so a restart names them the same.
    pub fn new(context: &JobContext) -> ReportState {
        let mut steps = vec![StepState::new(uuid::Uuid::new_v4().to_string(), 1, "Set up job".to_owned())];
        for (index, step) in context.steps.iter().enumerate() {
            let number = u32::try_from(index).unwrap_or(u32::MAX - 2).saturating_add(2);
            steps.push(StepState::new(step.external_id.clone(), number, step.display_name.clone()));
        }
        let last = u32::try_from(steps.len()).unwrap_or(u32::MAX).saturating_add(1);
        steps.push(StepState::new(uuid::Uuid::new_v4().to_string(), last, "Complete job".to_owned()));
        ReportState { mark: None, change_order: 0, steps, annotations: Vec::new(), job_lines: 0 }
    }
}

/// Saves a report's state. The report calls it after applying a batch of events and before it
/// lets the caller ack them, so an acked event is always in the saved state.
#[async_trait]
pub trait Checkpoint: Send {
    async fn save(&mut self, state: &ReportState) -> Result<(), CheckpointError>;
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("encode the report state")]
    Encode(#[source] serde_json::Error),
    #[error("save the report state")]
    Store(#[source] StoreError),
}

/// A report state kept as the runner's task state in the [`Store`] (`put_runner_task`) under
/// `(runner_id, task_ref)`.
#[derive(Clone)]
pub struct StoreCheckpoint {
    store: Arc<dyn Store>,
    runner_id: String,
    task_ref: String,
}

impl StoreCheckpoint {
    pub fn new(store: Arc<dyn Store>, runner_id: &str, task_ref: &str) -> StoreCheckpoint {
        StoreCheckpoint { store, runner_id: runner_id.to_owned(), task_ref: task_ref.to_owned() }
    }
}

#[async_trait]
impl Checkpoint for StoreCheckpoint {
    async fn save(&mut self, state: &ReportState) -> Result<(), CheckpointError> {
        let state = serde_json::to_value(state).map_err(CheckpointError::Encode)?;
        let now = time::OffsetDateTime::now_utc();
        self.store.put_runner_task(&self.runner_id, &self.task_ref, &state, now).await.map_err(CheckpointError::Store)
    }
}
