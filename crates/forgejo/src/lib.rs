//! The Forgejo runner protocol (`runner.v1` over Connect) and what our runner does with it: register,
//! poll for tasks, turn a task into a [`contract::JobRequest`], and report the job's events back as
//! log rows and step states the way Forgejo's UI reads them.
//!
//! The protobuf types generated from `proto/` stay inside this crate (module `wire`); everything
//! public is our own types.
//!
//! - [`connect`]: Connect unary calls and their errors, decided by `code`.
//! - [`client`]: [`Client`], one Forgejo instance's runner API.
//! - [`registration`]: `register` and the `.runner` file.
//! - [`labels`]: `name[:schema[:arg]]` labels, of which Forgejo sees only the name.
//! - [`fetch`]: the fetch loop (request keys, tasks version, room to run).
//! - [`room`]: the free slots orchestrators advertise for the runner's labels.
//! - [`settings`]: the daemon's settings (flag > env > file > default).
//! - [`daemon`]: `daemon` and `one-job`: Declare, resume saved tasks, then the fetch loop; each task
//!   runs as a JobRequest on the bus and its events are reported back.

pub mod client;
pub mod connect;
pub mod daemon;
pub mod fetch;
pub mod labels;
mod poller;
pub mod registration;
pub mod report;
pub mod room;
pub mod settings;
mod sink;
pub mod task;
mod wire;

pub use client::{Client, ClientError, Credentials, RunnerInfo, RunnerToken};
pub use connect::{Code, ConnectError};
pub use poller::Poller;
pub use registration::{RegisterConfig, RegisterError, RunnerFile, register};

/// An error and its causes, `: `-separated, for one log field or one line on stderr.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
