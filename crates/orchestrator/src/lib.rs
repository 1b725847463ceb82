//! The orchestrator: takes JobRequests from the [`bus`], runs each on an [`Executor`] (the
//! `local` one now, `qemu` next), and relays the agent's events back over the bus, stamped with
//! its own `seq` (it is the only sequencer). It answers the agent's checkout requests by
//! streaming a working tree, forwards cancels, sends heartbeats, and guarantees exactly one
//! `job_finished` per attempt whatever the agent does.
//!
//! Two ways to run it: [`Orchestrator::start`] keeps nothing durable (`solstice run`, the
//! in-process bus); [`Orchestrator::start_durable`] records every job and attempt in a
//! [`store::Store`] before anything runs, sequences events by the store's persisted mark, holds
//! a lease, and fails with [`RESTARTED`] the started attempts whose orchestrator died (its own
//! previous incarnation on start, a peer once that peer's lease expired): the standalone
//! daemon, package `orchestrator-daemon`, which lives apart because it needs the `vm` crate,
//! and `vm` needs this one.
//!
//! Where the local executor finds the agent ([`locate_agent`]): first
//! `$SOLSTICE_AGENT_DIR/<host target triple>/workflow-runner` (the triple this binary was built
//! for, [`HOST_TARGET`], e.g. `x86_64-unknown-linux-gnu`), then `workflow-runner` beside the
//! running executable, which is where `cargo build --workspace --bins` puts it. Neither: exit 3.
//!
//! Each job gets a fresh work directory (`job-<id>-<attempt>-*` under the configured root or the
//! system temp dir), passed as `--work-dir`; it is removed when the agent has exited. The agent
//! leads its own process group (a terminal's Ctrl-C reaches only us, and we turn it into a
//! cancel) and, on Linux, gets `PR_SET_PDEATHSIG` so it never outlives the orchestrator.

mod checkout;
mod durable;
mod executor;
mod identity;
mod job;
mod metrics;
mod orchestrator;
mod registry;
mod sequencer;

pub use checkout::{RAW_CHUNK_BYTES, WorkspaceSource, stream_checkout};
pub use durable::{Durability, RESTARTED, StartError};
pub use executor::{
    AGENT_NAME, AgentNotFound, AgentOutput, Executor, ExecutorError, HOST_TARGET, JobHandle, JobStart, LocalExecutor,
    LocalExecutorConfig, confine, locate_agent,
};
pub use identity::orchestrator_id;
pub use job::chain as error_chain;
pub use orchestrator::{Orchestrator, OrchestratorConfig, Serving};
