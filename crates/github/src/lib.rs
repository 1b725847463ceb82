//! The GitHub Actions self-hosted runner protocol (the modern github.com flow, reference
//! `shared/protocols/github.md`, cited as "ref §n") and what our runner does with it.
//!
//! - [`http`]: the HTTP client every call shares (User-Agent, URL joining, error bodies).
//! - [`key`]: the runner's RSA-2048 key and the forms the server wants it in.
//! - [`files`]: `.runner`, `.credentials`, `.credentials_rsaparams` and JIT configs.
//! - [`auth`]: JWT client assertions and the runner's OAuth access token.
//! - [`registration`]: `configure` (runner-admin and legacy pools/agents flows) and `remove`.
//! - [`broker`]: sessions, the message long-poll, acknowledge.
//! - [`run_service`]: acquirejob, renewjob, completejob.
//! - [`message`]: the job message's JSON (TemplateToken, PipelineContextData).
//! - [`translate`]: a job message → [`contract::JobRequest`] and the [`job::JobContext`].
//! - [`job`]: what every part of one job's handling shares (ids, URLs, tokens, the completion).
//! - [`results`]: the Results twirp service and its blob store.
//! - [`live`]: the live console websocket.
//! - [`report`]: a job's events → steps, logs, live lines and the completion.
//! - [`settings`]: what `github-runner run` runs with (flags, environment, config file).
//! - [`daemon`]: every registration at work: jobs taken, published, reported, resumed.

pub mod auth;
pub mod broker;
pub mod daemon;
pub mod files;
pub mod http;
pub mod job;
pub mod key;
pub mod live;
pub mod message;
pub mod registration;
pub mod report;
pub mod results;
pub mod run_service;
pub mod settings;
pub mod translate;

/// The runner version we report. The broker refuses versions it thinks too old
/// (`RunnerVersionTooOld`, ref §3.3), so this follows a current official release.
pub const RUNNER_VERSION: &str = "2.336.0";

/// An error and its causes, `: `-separated, for one log field or one line on stderr.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
