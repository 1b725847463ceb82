//! A job's saved state in the store (`runner_tasks`, issue 5 §9): the [`JobContext`] (ids, URLs,
//! the job token), our job id and the report's state, under `<GitHub job id>/<our job id>`.
//! Saved before the job is published, updated by every checkpoint, removed once completejob
//! went out; what is left at start is resumed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use store::Store;
use time::OffsetDateTime;
use ulid::Ulid;

use crate::job::JobContext;
use crate::report::{Checkpoint, CheckpointError, ReportState};

/// One job as the store keeps it.
#[derive(Clone, Serialize, Deserialize)]
pub struct SavedJob {
    pub context: JobContext,
    pub job_ulid: Ulid,
    pub report: ReportState,
}

/// The saved state's key: both ids, so a restart knows which of our jobs' events are whose.
pub fn task_ref(github_job_id: &str, job_ulid: Ulid) -> String {
    format!("{github_job_id}/{job_ulid}")
}

/// Every saved job of the runner `runner_id`; states this version cannot read are removed with
/// an error log, since nothing could resume them.
pub async fn load_all(store: &dyn Store, runner_id: &str) -> Result<Vec<SavedJob>, store::StoreError> {
    let mut saved = Vec::new();
    for task in store.runner_tasks(runner_id).await? {
        match serde_json::from_value::<SavedJob>(task.state) {
            Ok(job) => saved.push(job),
            Err(error) => {
                tracing::error!(task_ref = %task.task_ref, %error, "dropping a saved job state this version cannot read");
                if let Err(error) = store.remove_runner_task(runner_id, &task.task_ref).await {
                    tracing::warn!(error = %crate::error_chain(&error), "could not remove the state");
                }
            }
        }
    }
    Ok(saved)
}

/// Saves the job's record on every checkpoint.
pub struct StoreCheckpoint {
    pub store: Arc<dyn Store>,
    pub runner_id: String,
    pub context: JobContext,
    pub job_ulid: Ulid,
}

impl StoreCheckpoint {
    pub fn key(&self) -> String {
        task_ref(&self.context.job_id, self.job_ulid)
    }

    /// Writes the record with `report` as the report's state.
    pub async fn put(&self, report: &ReportState) -> Result<(), store::StoreError> {
        let record = SavedJob { context: self.context.clone(), job_ulid: self.job_ulid, report: report.clone() };
        let value = serde_json::to_value(&record).unwrap_or(serde_json::Value::Null);
        self.store.put_runner_task(&self.runner_id, &self.key(), &value, OffsetDateTime::now_utc()).await
    }

    /// Removes the record (the job's completion went out).
    pub async fn remove(&self) {
        if let Err(error) = self.store.remove_runner_task(&self.runner_id, &self.key()).await {
            tracing::warn!(task_ref = %self.key(), error = %crate::error_chain(&error), "could not remove the job's saved state");
        }
    }
}

#[async_trait::async_trait]
impl Checkpoint for StoreCheckpoint {
    async fn save(&mut self, state: &ReportState) -> Result<(), CheckpointError> {
        self.put(state).await.map_err(CheckpointError::Store)
    }
}
