//! The `github-runner` binary against the fake GitHub, RabbitMQ and a real orchestrator (local
//! executor): what an operator sees (exit codes, files) and what the job's page shows.

mod cli;
mod jobs;
mod support;
