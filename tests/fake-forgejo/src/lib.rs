//! A stateful fake of Forgejo's runner API (runner.v1 and ping.v1 over Connect) for the
//! end-to-end tests, written from the protocol reference (`/work/shared/protocols/forgejo.md`,
//! cited by section at each rule).
//!
//! [`FakeForgejo::start`] serves on 127.0.0.1 on a free port. The test hands out registration
//! tokens, adds jobs, cancels them as a user would, switches faults on, and reads what a user
//! would see ([`FakeForgejo::view`], [`FakeForgejo::runners`]) or what a client sent
//! ([`FakeForgejo::calls`]). Waiting is done on change notifications ([`FakeForgejo::wait_for`]),
//! never by polling.

#![recursion_limit = "256"]

mod auth;
mod call;
mod codec;
mod compression;
mod connect_error;
mod context;
mod faults;
mod instance;
mod job_spec;
mod logs;
mod payload;
pub mod proto;
mod runners;
mod server;
mod state;
mod status;
mod task_update;
mod tasks;
mod view;
mod zombie;

pub use call::Call;
pub use codec::Codec;
pub use connect_error::{Code, ConnectError};
pub use faults::PROXY_PAGE;
pub use instance::{FakeForgejo, Snapshot, StartError, WaitError};
pub use job_spec::{JobHandle, JobSpec, Need, Scope, step_name};
pub use payload::PayloadError;
pub use runners::{RunnerCredentials, RunnerView};
pub use state::{Config, StoredRow};
pub use status::Status;
pub use view::{COMPLETE_JOB, JobView, SET_UP_JOB, StepView};
