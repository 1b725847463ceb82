//! The GitHub end-to-end suite: the fake GitHub offers a job to the real `github-runner`, which
//! puts it on RabbitMQ for the real `orchestrator`, which boots the `linux-test` image under QEMU
//! (TCG) in a network namespace of the test; the job's events come back through the runner to
//! the fake's Results, live console and run service, and each test asserts what the job's page
//! shows (`FakeGithub::view`) and what completejob said.
//!
//! Needs `cargo build --workspace --bins` first (the binaries are taken from beside this test
//! binary), root, RabbitMQ and PostgreSQL on 127.0.0.1, and the built test image; without the
//! image or root a test prints SKIPPED and passes unless `SOLSTICE_REQUIRE_VM` is set (the
//! rule of `testkit::vm`).

mod harness;
mod jobs;
mod latency;
mod registrations;
