//! What every part of one job's handling shares: the ids and URLs the job message gave
//! ([`JobContext`], made by [`crate::translate`]), and the `completejob` body ([`Completion`],
//! made by [`crate::report`], sent by [`crate::run_service`]).
//!
//! IDs must agree everywhere (ref §5.4): a step's `external_id` in Results, its
//! `step_backend_id` for logs and its `external_id` in completejob are the step's record GUID;
//! the job is `jobId`, the run is `plan.planId`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One acquired job as the services know it. Serializable, so a restarted runner can pick the
/// job up again (issue 5 §9); the job token is in it, so it is saved only where the runner's
/// credentials are (the state dir, mode 0600).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct JobContext {
    /// `plan.planId`: `workflow_run_backend_id` in Results.
    pub plan_id: String,
    /// `jobId`: the job record id, `workflow_job_run_backend_id` in Results.
    pub job_id: String,
    /// `jobDisplayName`.
    pub display_name: String,
    /// The job access token (SystemVssConnection `AccessToken`): renewjob, completejob, Results,
    /// the live console.
    pub job_token: String,
    /// SystemVssConnection `url`: the run service base for renewjob and completejob.
    pub run_service_url: String,
    /// `system.github.results_endpoint`; without it there are no step logs (ref §5.1).
    pub results_url: Option<String>,
    /// SystemVssConnection `data.FeedStreamUrl`: the live console websocket.
    pub feed_stream_url: Option<String>,
    /// `billingOwnerId`, echoed in completejob.
    pub billing_owner_id: Option<String>,
    /// The message's steps in order; index `i` here is `StepCommand.index == i` in the
    /// JobRequest and `Section::Step(i)` in the events.
    pub steps: Vec<StepRef>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("plan_id", &self.plan_id)
            .field("job_id", &self.job_id)
            .field("display_name", &self.display_name)
            .field("job_token", &"***")
            .field("run_service_url", &self.run_service_url)
            .field("results_url", &self.results_url)
            .field("feed_stream_url", &self.feed_stream_url)
            .field("steps", &self.steps)
            .finish()
    }
}

/// One step of the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRef {
    /// The step record GUID (`steps[].id`).
    pub external_id: String,
    /// The display name as the message gave it (literal `displayName`, else the step's name).
    pub display_name: String,
    /// `steps[].name` (`__run` or the user's id): `action_name`/`ref` in stepResults.
    pub ref_name: String,
}

/// How a job or a step ended, as completejob spells it (ref §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Conclusion {
    Succeeded,
    Failed,
    Canceled,
    Skipped,
}

impl From<contract::Outcome> for Conclusion {
    fn from(outcome: contract::Outcome) -> Self {
        match outcome {
            contract::Outcome::Success => Conclusion::Succeeded,
            contract::Outcome::Failure => Conclusion::Failed,
            contract::Outcome::Cancelled => Conclusion::Canceled,
            contract::Outcome::Skipped => Conclusion::Skipped,
        }
    }
}

/// The `completejob` body (ref §4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub plan_id: String,
    pub job_id: String,
    pub conclusion: Conclusion,
    pub outputs: BTreeMap<String, OutputValue>,
    pub step_results: Vec<StepResult>,
    pub annotations: Vec<AnnotationBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_owner_id: Option<String>,
}

/// A job output in completejob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputValue {
    pub value: String,
    pub is_secret: bool,
}

/// One Task record in completejob's `stepResults` ("Set up job", each step, "Complete job").
/// snake_case on the wire, as the run service reads it (ref §4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub external_id: String,
    pub number: u32,
    pub name: String,
    pub status: String,
    pub conclusion: Conclusion,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_log_lines: Option<u64>,
    #[serde(default)]
    pub annotations: Vec<AnnotationBody>,
}

/// An annotation in completejob (ref §4.4), camelCase; `level` as the official runner writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationBody {
    pub level: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_number: Option<u32>,
    pub is_infrastructure_issue: bool,
}

/// A timestamp as Results and completejob write them: `yyyy-MM-ddTHH:mm:ss.fffZ` (ref §0).
pub fn timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let at = time::macros::datetime!(2024-05-01 12:00:00.123456 UTC);
        assert_eq!(timestamp(at), "2024-05-01T12:00:00.123Z");
    }

    #[test]
    fn completion_fields_are_spelled_as_the_run_service_reads_them() {
        let completion = Completion {
            plan_id: "p".into(),
            job_id: "j".into(),
            conclusion: Conclusion::Canceled,
            outputs: BTreeMap::new(),
            step_results: vec![StepResult {
                external_id: "s".into(),
                number: 1,
                name: "Set up job".into(),
                status: "completed".into(),
                conclusion: Conclusion::Succeeded,
                started_at: None,
                completed_at: None,
                completed_log_lines: None,
                annotations: Vec::new(),
            }],
            annotations: Vec::new(),
            billing_owner_id: None,
        };
        let json = serde_json::to_value(&completion).unwrap();
        assert_eq!(json["conclusion"], "canceled");
        assert_eq!(json["planId"], "p");
        assert_eq!(json["stepResults"][0]["external_id"], "s");
        assert_eq!(json["stepResults"][0]["conclusion"], "succeeded");
    }
}
