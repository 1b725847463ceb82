//! The Forgejo end-to-end suite: the fake Forgejo hands a job to the real `forgejo-runner`,
//! which puts it on RabbitMQ for the real `orchestrator`, which boots the `linux-test` image
//! under QEMU (TCG) in a network namespace of the test; the job's events come back through the
//! runner to the fake, and each test asserts what the job page shows (`FakeForgejo::view`).
//!
//! Needs `cargo build --workspace --bins` first (the binaries are taken from beside this test
//! binary), root, RabbitMQ and PostgreSQL on 127.0.0.1, and the built test image; without the
//! image or root a test prints SKIPPED and passes unless `SOLSTICE_REQUIRE_VM` is set.

mod faults;
mod harness;
mod jobs;
mod latency;
