use serde::{Deserialize, Serialize};

use crate::{Event, JobRequest, SecretString, Timestamp};

/// One line on the agent's stdin (brief §3.3). The first line is always `Start`; the rest are
/// control messages while the job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlMessage {
    Start {
        request: Box<JobRequest>,
        /// The bus key (standard base64) that opens `request.secrets`.
        bus_key: SecretString,
    },
    /// Cancel the job: the running step is signalled, then only `always()`/`cancelled()` steps run.
    Cancel { reason: String },
    /// Part of a checkout's tar stream, standard base64.
    WorkspaceChunk { index: u32, data: String },
    /// The checkout's tar stream is complete; `error` says why the host could not produce it.
    WorkspaceEnd {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A message type this agent does not know (sent by a newer host). Ignored.
    #[serde(other)]
    Unknown,
}

/// One line on the agent's stdout: an unsequenced event. The orchestrator wraps it into a
/// [`crate::JobEvent`] with the job id, attempt and its own `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEvent {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    #[serde(flatten)]
    pub event: Event,
}
