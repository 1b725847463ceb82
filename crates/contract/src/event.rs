use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::{CheckoutRequest, Timestamp};

/// An event of a job attempt as the orchestrator relays it. The orchestrator is the only
/// sequencer: it stamps `seq` (1, 2, 3… per job attempt); consumers drop a `seq` they have seen
/// and treat a jump as a gap (brief §3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    pub job_id: Ulid,
    pub attempt: u32,
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened. Serialized with a `type` tag in snake_case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An orchestrator took the job.
    Accepted {
        orchestrator: String,
    },
    VmBooting {
        label: String,
    },
    VmReady {
        label: String,
    },
    StepStarted {
        index: u32,
        /// The step's display name, evaluated.
        name: String,
    },
    /// Log lines of one section. `first_line` is the 1-based number of `lines[0]` within the
    /// section; lines are already masked and hold no line terminator.
    Log {
        section: Section,
        first_line: u64,
        lines: Vec<String>,
    },
    Annotation(Annotation),
    StepSummary {
        index: u32,
        markdown: String,
    },
    StepFinished {
        index: u32,
        /// The step's display name, so a skipped step (which has no `step_started`) is named too.
        name: String,
        /// What the step did. Forgejo shows this.
        outcome: Outcome,
        /// After `continue-on-error`. GitHub shows this.
        conclusion: Outcome,
        #[serde(default)]
        outputs: BTreeMap<String, String>,
    },
    /// Sent at least every 15 s while the job lives.
    Heartbeat,
    /// The agent asks the host for a checkout; the host answers with workspace control messages.
    /// Internal to orchestrator and agent: forge runners ignore it.
    CheckoutRequested {
        index: u32,
        request: CheckoutRequest,
    },
    JobFinished {
        result: JobResult,
        #[serde(default)]
        outputs: BTreeMap<String, String>,
        /// Why the job failed when no step says it (bad input, VM never booted, timeout…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An event type this reader does not know (written by a newer version). Readers skip it.
    #[serde(other)]
    Unknown,
}

/// Which part of the job log a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// "Set up job": before the first step.
    Setup,
    /// The step with this 0-based index.
    Step(u32),
    /// "Complete job": after the last step.
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The result of a whole job; the same words as `needs.<job>.result`.
pub type JobResult = Outcome;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub level: AnnotationLevel,
    pub message: String,
    /// The step that produced it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub col: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationLevel {
    Error,
    Warning,
    Notice,
}
