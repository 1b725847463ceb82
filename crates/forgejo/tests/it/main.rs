//! Integration tests of the forgejo crate: one binary, a module per concern.

mod client;
mod daemon;
mod fetch;
mod poller;
mod registration;
mod report;
mod room;
mod settings;
mod task;
