//! Integration tests of the forgejo crate: one binary, a module per concern.

mod report;
mod task;
