//! The executor seam: something that starts the `workflow-runner` agent for one job and speaks
//! brief §3.3 with it. `local` runs the agent as a child process; `qemu` (next) runs it in a VM
//! over SSH. Both hand back the same [`JobHandle`].

mod agent_binary;
mod local;
mod stderr_tail;

use std::future::Future;
use std::path::PathBuf;

use contract::{AgentEvent, ControlMessage, JobRequest, SecretString};
use tokio::sync::{mpsc, oneshot};

pub use agent_binary::{AGENT_NAME, AgentNotFound, HOST_TARGET, locate_agent};
pub use local::{LocalExecutor, LocalExecutorConfig, confine};

/// What an executor needs to start a job.
#[derive(Debug, Clone)]
pub struct JobStart {
    pub request: JobRequest,
    /// Opens `request.secrets`; handed to the agent on its stdin only.
    pub bus_key: SecretString,
}

/// Starts agents. Implementations must not hold a secret in argv or the environment.
pub trait Executor: Send + Sync + 'static {
    /// Starts the agent for one job and sends it `ControlMessage::Start`.
    fn start(&self, job: JobStart) -> impl Future<Output = Result<JobHandle, ExecutorError>> + Send;
}

/// Why an agent could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error(transparent)]
    AgentNotFound(#[from] AgentNotFound),
    #[error("create the job's work directory under {dir}")]
    WorkDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("start the agent {path}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("send the job to the agent")]
    Handover(#[source] std::io::Error),
}

/// What comes out of a running agent, in order. `Exited` is always last.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentOutput {
    Event(AgentEvent),
    /// A stdout line that is not an `AgentEvent`: a protocol violation.
    Invalid {
        line: String,
        error: String,
    },
    /// The agent is gone and the executor cleaned up after it (work dir removed).
    Exited {
        /// How it ended, e.g. `exit status: 0` or `signal: 9 (SIGKILL)`.
        status: String,
        success: bool,
        /// Its last stderr lines, oldest first.
        stderr_tail: Vec<String>,
    },
}

/// A running agent: its output, its control channel and a kill switch. Dropping the handle
/// kills the agent.
#[derive(Debug)]
pub struct JobHandle {
    outputs: mpsc::Receiver<AgentOutput>,
    control: mpsc::Sender<ControlMessage>,
    kill: Option<oneshot::Sender<()>>,
}

impl JobHandle {
    /// For executors (and test doubles): `outputs` ends with [`AgentOutput::Exited`], `control`
    /// reaches the agent's stdin, `kill` fires (or is dropped) to kill it.
    pub fn new(
        outputs: mpsc::Receiver<AgentOutput>,
        control: mpsc::Sender<ControlMessage>,
        kill: oneshot::Sender<()>,
    ) -> Self {
        JobHandle { outputs, control, kill: Some(kill) }
    }

    /// The next output; `None` once the executor is done (after `Exited`).
    pub async fn next(&mut self) -> Option<AgentOutput> {
        self.outputs.recv().await
    }

    /// A sender for control messages (cancel, workspace data) to the agent.
    pub fn control(&self) -> mpsc::Sender<ControlMessage> {
        self.control.clone()
    }

    /// Kills the agent; `next` then yields what is left and `Exited`.
    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}
