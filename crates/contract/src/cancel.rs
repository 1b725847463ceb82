use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A request to cancel a job, fanned out to every orchestrator. An orchestrator that runs the
/// job tells its agent (`ControlMessage::Cancel`); every orchestrator records a tombstone so the
/// job, if it is still queued, never starts. Forge runners and `solstice run` publish it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub job_id: Ulid,
    /// The attempt to cancel; absent cancels whichever attempt runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Why, as the job log will say it.
    pub reason: String,
}

impl CancelRequest {
    /// Whether this cancel is meant for the given attempt of a job.
    pub fn applies_to(&self, job_id: Ulid, attempt: u32) -> bool {
        self.job_id == job_id && self.attempt.is_none_or(|a| a == attempt)
    }
}
