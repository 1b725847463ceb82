//! The orchestrator daemon end to end, over the real RabbitMQ (a vhost of its own per test,
//! deleted at the end) and the real PostgreSQL (a database of its own per test, dropped at the
//! end), with the local executor and a fake agent (`fixtures/agent.sh`). A test plays the
//! runner: it publishes JobRequests and cancels on the bus and reads the events.
//!
//! `qemu` runs real jobs in real VMs instead (see there and `support/qemu.rs`).
//!
//! Needs `rabbitmqctl` with the broker at 127.0.0.1:5672 (guest/guest) and PostgreSQL at
//! 127.0.0.1:5432 with trust auth for `postgres` (`SOLSTICE_TEST_POSTGRES_URL` overrides).

mod binary;
mod cancels;
mod jobs;
mod lease;
mod metrics;
mod qemu;
mod restarts;
mod support;
