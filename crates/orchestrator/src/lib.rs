//! The orchestrator: takes JobRequests from the [`bus`], runs each on an [`Executor`] (the
//! `local` one now, `qemu` next), and relays the agent's events back over the bus, stamped with
//! its own `seq` (it is the only sequencer). It answers the agent's checkout requests by
//! streaming a working tree, forwards cancels, sends heartbeats, and guarantees exactly one
//! `job_finished` per attempt whatever the agent does.

mod checkout;
mod executor;
mod job;
mod orchestrator;
mod registry;
mod sequencer;

pub use checkout::{RAW_CHUNK_BYTES, WorkspaceSource, stream_checkout};
pub use executor::{
    AGENT_NAME, AgentNotFound, AgentOutput, Executor, ExecutorError, HOST_TARGET, JobHandle, JobStart, LocalExecutor,
    LocalExecutorConfig, locate_agent,
};
pub use orchestrator::{Orchestrator, OrchestratorConfig, Serving};
