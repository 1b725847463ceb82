//! The step engine: what a job's steps mean, wherever they run.
//!
//! [`run_job`] takes a [`contract::JobRequest`] with its secrets opened, a [`Host`] to run
//! processes on, an [`EngineConfig`], a sink for [`contract::AgentEvent`]s and a receiver of
//! [`contract::ControlMessage`]s (cancel, checkout data), and runs the job GitHub's way:
//! `run:` semantics and shells, expressions evaluated once at run time, workflow commands,
//! `GITHUB_ENV`/`GITHUB_OUTPUT`/`GITHUB_PATH`/`GITHUB_STEP_SUMMARY`, masking, timeouts and
//! cancel. [`LocalHost`] runs steps on this machine; the orchestrator implements [`Host`] over
//! SSH for guests without an agent.
//!
//! ```no_run
//! # async fn example(request: contract::JobRequest, secrets: std::collections::BTreeMap<String, contract::SecretString>) {
//! let (events_tx, mut events_rx) = tokio::sync::mpsc::channel(256);
//! let (control_tx, control_rx) = tokio::sync::mpsc::channel(16);
//! let config = engine::EngineConfig::new("/var/tmp/work");
//! let host = engine::LocalHost::new();
//! // Forward `events_rx` somewhere; send `ControlMessage::Cancel` or the workspace stream
//! // (after `checkout_requested`) on `control_tx`; dropping it is not a cancel.
//! let report = engine::run_job(request, secrets, &host, &config, events_tx, control_rx).await;
//! # drop((events_rx, control_tx, report));
//! # }
//! ```
//!
//! Where a [`Host`] implementation must be careful: `spawn` starts the program as the leader of
//! a new process group with exactly the given environment (nothing inherited, stdin closed),
//! and `Process::signal_group` signals that whole group; `read_file` returns `Ok(None)` for a
//! missing file; paths are the host's, never this machine's.

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
