//! Where a task's [`Ledger`] is saved, so a runner killed mid-job resumes reporting.

use std::sync::Arc;

use async_trait::async_trait;
use store::{Store, StoreError};

use super::Ledger;

/// Saves a ledger. The reporter calls it after taking events and before it lets the consumer
/// ack them, so an acked event is always in the saved state.
#[async_trait]
pub trait Checkpoint: Send {
    async fn save(&mut self, ledger: &Ledger) -> Result<(), CheckpointError>;
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("encode the report state")]
    Encode(#[source] serde_json::Error),
    #[error("save the report state")]
    Store(#[source] StoreError),
}

/// A ledger kept as the runner's task state in the [`Store`] (`put_runner_task`), under
/// `(runner_id, task_ref)`; the daemon reads it back with `runner_task` and removes it with
/// `remove_runner_task` once the report ended.
#[derive(Debug, Clone)]
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
    async fn save(&mut self, ledger: &Ledger) -> Result<(), CheckpointError> {
        let state = ledger.to_json().map_err(CheckpointError::Encode)?;
        let now = time::OffsetDateTime::now_utc();
        self.store.put_runner_task(&self.runner_id, &self.task_ref, &state, now).await.map_err(CheckpointError::Store)
    }
}
