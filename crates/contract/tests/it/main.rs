//! Contract tests: sealing, the JSON shape (docs/examples is generated from here and checked),
//! and compatibility between readers and writers of different versions.

mod compat;
mod examples;
mod sealed;
