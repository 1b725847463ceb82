//! The step engine: what a job's steps mean, wherever they run.
//!
//! [`run_job`] takes a [`contract::JobRequest`] with its secrets opened, a [`Host`] to run
//! processes on, an [`EngineConfig`], a sink for [`contract::AgentEvent`]s and a receiver of
//! [`contract::ControlMessage`]s (cancel, checkout data), and runs the job GitHub's way:
//! `run:` semantics and shells, expressions evaluated once at run time, workflow commands,
//! `GITHUB_ENV`/`GITHUB_OUTPUT`/`GITHUB_PATH`/`GITHUB_STEP_SUMMARY`, masking, timeouts and
//! cancel. [`LocalHost`] runs steps on this machine; the orchestrator implements [`Host`] over
//! SSH for guests without an agent.
mod checkout;
mod commands;
mod config;
mod contexts;
mod control;
mod events;
mod files;
mod github;
mod host;
mod job;
mod layout;
mod lines;
mod local;
mod masking;
mod output;
mod script;
mod shell;
mod step;
mod supervise;

pub use config::EngineConfig;
pub use control::ControlReceiver;
pub use events::{EventSink, EventsConfig};
pub use host::{
    ByteStream, Exit, Host, HostError, Platform, Process, Signal, SpawnSpec, Spawned, TarSink, error_chain,
};
pub use job::{JobReport, run_job};
pub use local::{LocalHost, local_platform};
pub use masking::Masker;
