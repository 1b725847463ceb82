//! The expression crate's one integration test binary.

mod conformance;
mod properties;
mod table;
mod template;
