//! What an operator scrapes and probes: a small metrics [`Registry`] rendered in the Prometheus
//! text format (version 0.0.4) and an HTTP server ([`serve`]) with `/metrics` and `/healthz`.
//!
//! Our own few dozen lines rather than the `prometheus` crate: the daemons need counters, gauges
//! and histograms with fixed label sets and nothing else (docs/dependencies.md).

mod process;
mod registry;
pub mod runner;
mod server;

pub use process::{init_logs, shutdown_signal};
pub use registry::{Counter, Gauge, Histogram, LATENCY_BUCKETS, Registry};
pub use server::{Endpoint, Health, ListenError, METRICS_ADDR_ENV, ServeError, addr_from_env, serve, serving};

/// The process's registry for code without one handed to it (the forge runners, [`runner`]).
/// A binary serving `/metrics` serves this one, or renders it beside its own.
pub fn global() -> &'static Registry {
    static GLOBAL: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(Registry::new)
}
