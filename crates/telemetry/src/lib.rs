//! What an operator scrapes and probes: a small metrics [`Registry`] rendered in the Prometheus
//! text format (version 0.0.4) and an HTTP server ([`serve`]) with `/metrics` and `/healthz`.
//!
//! Our own few dozen lines rather than the `prometheus` crate: the daemons need counters, gauges
//! and histograms with fixed label sets and nothing else (docs/dependencies.md).

mod registry;
mod server;

pub use registry::{Counter, Gauge, Histogram, LATENCY_BUCKETS, Registry};
pub use server::{Health, ServeError, serve};
