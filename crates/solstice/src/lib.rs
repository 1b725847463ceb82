//! `solstice`, the user's front door. `solstice run` translates a workflow file into
//! JobRequests, publishes them on an in-process bus, lets an in-process orchestrator run them on
//! the chosen executor, and prints the events it relays (format: ARCHITECTURE.md, "`solstice
//! run` output"; user docs: docs/solstice-run.md).

pub mod cli;
pub mod images;
pub mod install;
pub mod run;
pub mod serve;

mod context;
mod local_repo;
mod plan;
mod printer;
mod results;
mod stage;
mod vm_host;

pub use vm_host::VmHostError;

pub use printer::Printer;
