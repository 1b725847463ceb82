//! The Forgejo runner protocol (`runner.v1` over Connect) and what our runner does with it: register,
//! poll for tasks, turn a task into a [`contract::JobRequest`], and report the job's events back as
//! log rows and step states the way Forgejo's UI reads them.
//!
//! The protobuf types generated from `proto/` stay inside this crate; everything public is our own
//! types.

pub mod report;
pub mod task;
