//! The run service (ref §4): acquirejob with the runner's token, renewjob and completejob with
//! the job's token — and the job's lease ([`keep_renewing`], [`renew_before_start`]).

mod lease;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

pub use self::lease::{LeaseConfig, LeaseLost, keep_renewing, renew_before_start};
use crate::auth::{AccessTokens, AuthError};
use crate::broker::bearer::{BearerError, with_token};
use crate::broker::{Backoff, JobRequestRef};
use crate::http::{self, HttpError};
use crate::job::{Completion, JobContext};

/// Retries of the run-service calls; the defaults are the official runner's (ref §4.1, §4.4).
#[derive(Debug, Clone)]
pub struct RunServiceConfig {
    /// acquirejob attempts for failures worth another try.
    pub acquire_tries: u32,
    pub acquire_backoff: Backoff,
    /// completejob attempts, `complete_backoff` apart.
    pub complete_tries: u32,
    pub complete_backoff: Backoff,
}

impl Default for RunServiceConfig {
    fn default() -> Self {
        Self {
            acquire_tries: 3,
            acquire_backoff: Backoff::seconds(1, 5),
            complete_tries: 5,
            complete_backoff: Backoff::fixed(Duration::from_secs(5)),
        }
    }
}

/// Why a job could not be acquired.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    /// 404, 409 or 422 (ref §4.1): the job is gone, taken or unusable; drop the message.
    #[error("acquire the job: the run service answered {status}; the message is dropped")]
    Skip {
        status: u16,
        #[source]
        source: HttpError,
    },
    /// The message has no run service URL: the legacy pipelines path, which we do not speak.
    #[error("acquire the job: the message names no run service (the legacy pipelines path is not supported)")]
    NoRunService,
    #[error("get the runner's access token")]
    Auth(#[source] AuthError),
    /// Still failing after the retries.
    #[error("acquire the job")]
    Failed(#[source] HttpError),
}

/// Why the job's lease could not be renewed.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// 404 (ref §4.3): the job is over or unknown; stop working on it.
    #[error("renew the job: the run service no longer has it")]
    Gone(#[source] HttpError),
    #[error("renew the job")]
    Failed(#[source] HttpError),
    #[error("renew the job: the answer has no lockedUntil time")]
    NoLockedUntil,
}

impl AcquireError {
    /// Whether the registration is gone for good (OAuth `invalid_client`; the binary exits 4).
    pub fn registration_gone(&self) -> bool {
        matches!(self, AcquireError::Auth(error) if error.registration_gone())
    }
}

/// Why the job's completion was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    /// 401 or 404 (ref §4.4): the job token or the job is gone; not retried.
    #[error("complete the job: the run service refused it")]
    Refused(#[source] HttpError),
    /// Still failing after the retries.
    #[error("complete the job")]
    Failed(#[source] HttpError),
}

/// The run service client of one runner registration. Cheap to clone.
#[derive(Clone)]
pub struct RunService {
    http: reqwest::Client,
    tokens: Arc<dyn AccessTokens>,
    config: RunServiceConfig,
}

impl RunService {
    pub fn new(http: reqwest::Client, tokens: Arc<dyn AccessTokens>) -> Self {
        Self { http, tokens, config: RunServiceConfig::default() }
    }

    /// The same client with other retries (tests).
    pub fn with_config(mut self, config: RunServiceConfig) -> Self {
        self.config = config;
        self
    }

    /// `POST {run_service_url}acquirejob` (ref §4.1): the job message for a `RunnerJobRequest`.
    pub async fn acquire(&self, job: &JobRequestRef) -> Result<Value, AcquireError> {
        if job.run_service_url.is_empty() {
            return Err(AcquireError::NoRunService);
        }
        let url = http::join(&job.run_service_url, "acquirejob");
        let mut body = json!({"jobMessageId": job.runner_request_id, "runnerOS": "Linux"});
        if let Some(owner) = &job.billing_owner_id {
            body["billingOwnerId"] = json!(owner);
        }
        let mut attempt = 1;
        loop {
            let answer = with_token(self.tokens.as_ref(), |token| {
                let builder = self.http.post(&url).bearer_auth(token).json(&body).timeout(http::CALL_TIMEOUT);
                http::send_json("POST", &url, builder)
            })
            .await;
            let error = match answer {
                Ok(message) => return Ok(message),
                Err(BearerError::Auth(error)) => return Err(AcquireError::Auth(error)),
                Err(BearerError::Http(error)) => error,
            };
            if let Some(status @ (404 | 409 | 422)) = error.status() {
                return Err(AcquireError::Skip { status, source: error });
            }
            if attempt >= self.config.acquire_tries {
                return Err(AcquireError::Failed(error));
            }
            let pause = self.config.acquire_backoff.pick();
            tracing::warn!(job = %job.id, error = %crate::error_chain(&error), ?pause, "acquiring the job failed; trying again");
            telemetry::runner::forge_error("github", "acquirejob");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// `POST {url}renewjob` with the job token (ref §4.3): the time the job is locked until.
    /// One attempt; the retries are the lease's ([`keep_renewing`], [`renew_before_start`]).
    pub async fn renew(&self, context: &JobContext) -> Result<OffsetDateTime, RenewError> {
        let url = http::join(&context.run_service_url, "renewjob");
        let body = json!({"planId": context.plan_id, "jobId": context.job_id});
        let builder = self.http.post(&url).bearer_auth(&context.job_token).json(&body).timeout(http::CALL_TIMEOUT);
        let answer: Value = http::send_json("POST", &url, builder).await.map_err(|error| match error.status() {
            Some(404) => RenewError::Gone(error),
            _ => RenewError::Failed(error),
        })?;
        locked_until(&answer).ok_or(RenewError::NoLockedUntil)
    }

    /// `POST {url}completejob` with the job token (ref §4.4), retried `complete_tries` times
    /// except after 401 or 404.
    pub async fn complete(&self, context: &JobContext, completion: &Completion) -> Result<(), CompleteError> {
        let url = http::join(&context.run_service_url, "completejob");
        let mut attempt = 1;
        loop {
            let builder =
                self.http.post(&url).bearer_auth(&context.job_token).json(completion).timeout(http::CALL_TIMEOUT);
            let error = match http::send("POST", &url, builder).await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            if matches!(error.status(), Some(401 | 404)) {
                return Err(CompleteError::Refused(error));
            }
            if attempt >= self.config.complete_tries {
                return Err(CompleteError::Failed(error));
            }
            let pause = self.config.complete_backoff.pick();
            tracing::warn!(job = %context.job_id, error = %crate::error_chain(&error), ?pause, "completing the job failed; trying again");
            telemetry::runner::forge_error("github", "completejob");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

/// `lockedUntil` of a renewjob answer: a .NET "O" date (seven fraction digits) or any RFC 3339
/// time, the name matched ignoring case (ref §0).
fn locked_until(answer: &Value) -> Option<OffsetDateTime> {
    let (_, value) = answer.as_object()?.iter().find(|(key, _)| key.eq_ignore_ascii_case("lockedUntil"))?;
    OffsetDateTime::parse(value.as_str()?, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn locked_until_is_read_in_the_forms_servers_write() {
        let check = |answer: Value, expected: Option<OffsetDateTime>| {
            assert_eq!(locked_until(&answer), expected, "{answer}");
        };
        check(json!({"lockedUntil": "2024-05-01T12:00:00.1234567Z"}), Some(datetime!(2024-05-01 12:00:00.1234567 UTC)));
        check(json!({"LockedUntil": "2024-05-01T14:00:00+02:00"}), Some(datetime!(2024-05-01 12:00:00 UTC)));
        check(json!({"lockedUntil": "2024-05-01T12:00:00Z"}), Some(datetime!(2024-05-01 12:00:00 UTC)));
        check(json!({"lockedUntil": "tomorrow"}), None);
        check(json!({}), None);
    }
}
