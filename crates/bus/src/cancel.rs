use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A request to cancel a job, fanned out to every orchestrator (`solstice.cancel`). An
/// orchestrator that runs the job tells its agent; every orchestrator records a tombstone so the
/// job, if it is still queued, never starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    pub job_id: Ulid,
    /// The attempt to cancel; `None` cancels whichever attempt runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Why, as the job log will say it.
    pub reason: String,
}

impl Cancel {
    /// Whether this cancel is meant for the given attempt of a job.
    pub fn applies_to(&self, job_id: Ulid, attempt: u32) -> bool {
        self.job_id == job_id && self.attempt.is_none_or(|a| a == attempt)
    }
}
