//! The job's lease (ref §4.3): renewjob before the job starts, then every minute while it runs.
//! A job whose lease is lost (404, or renewals failing past `lockedUntil` + 5 minutes) is no
//! longer ours: the daemon cancels it.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::{RenewError, RunService};
use crate::broker::Backoff;
use crate::job::JobContext;

/// The lease's pacing; the defaults are the official runner's (ref §4.3), tests shorten them.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Between two renewals of a running job.
    pub interval: Duration,
    /// The wait after each of the first `longer_after` consecutive failed renewals.
    pub retry_backoff: Backoff,
    /// The wait after later consecutive failures.
    pub later_retry_backoff: Backoff,
    pub longer_after: u32,
    /// How long past the last `lockedUntil` failing renewals are still retried.
    pub grace: Duration,
    /// Attempts at the renewal before the job starts, `first_backoff` apart.
    pub first_tries: u32,
    pub first_backoff: Backoff,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            retry_backoff: Backoff::seconds(5, 15),
            later_retry_backoff: Backoff::seconds(15, 30),
            longer_after: 5,
            grace: Duration::from_secs(5 * 60),
            first_tries: 6,
            first_backoff: Backoff::seconds(1, 10),
        }
    }
}

/// The job is no longer ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("keep the job's lease: {reason}")]
pub struct LeaseLost {
    pub reason: String,
}

/// The first renewal, before the job starts (ref §4.3): the first attempt and five retries 1–10 s
/// apart; a 404 is final at once. The daemon starts the job only when this succeeds.
pub async fn renew_before_start(
    run_service: &RunService,
    context: &JobContext,
    config: &LeaseConfig,
) -> Result<OffsetDateTime, RenewError> {
    let mut attempt = 1;
    loop {
        let error = match run_service.renew(context).await {
            Ok(locked_until) => return Ok(locked_until),
            Err(error @ RenewError::Gone(_)) => return Err(error),
            Err(error) => error,
        };
        if attempt >= config.first_tries {
            return Err(error);
        }
        let pause = config.first_backoff.pick();
        tracing::warn!(job = %context.job_id, error = %crate::error_chain(&error), ?pause, "renewing the job before its start failed; trying again");
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

/// Renews the job every `interval` for as long as it is polled; resolves only when the lease is
/// lost: the run service answers 404, or renewals keep failing until `lockedUntil` + `grace`.
/// `locked_until` is what [`renew_before_start`] returned. Drop the future to stop renewing.
pub async fn keep_renewing(
    run_service: RunService,
    context: JobContext,
    locked_until: OffsetDateTime,
    config: LeaseConfig,
) -> LeaseLost {
    let mut deadline = locked_until + config.grace;
    let mut failures = 0u32;
    let mut next = Instant::now() + config.interval;
    loop {
        tokio::time::sleep_until(next).await;
        let error = match run_service.renew(&context).await {
            Ok(until) => {
                tracing::trace!(job = %context.job_id, %until, "job lease renewed");
                deadline = until + config.grace;
                failures = 0;
                next = Instant::now() + config.interval;
                continue;
            }
            Err(error @ RenewError::Gone(_)) => {
                return LeaseLost { reason: crate::error_chain(&error) };
            }
            Err(error) => error,
        };
        let left = deadline - OffsetDateTime::now_utc();
        if left <= time::Duration::ZERO {
            return LeaseLost {
                reason: format!("renewals failed past the lock's end: {}", crate::error_chain(&error)),
            };
        }
        failures += 1;
        let backoff = if failures <= config.longer_after { config.retry_backoff } else { config.later_retry_backoff };
        // The last try lands on the deadline rather than after it.
        let pause = backoff.pick().min(left.try_into().unwrap_or(Duration::ZERO));
        tracing::warn!(job = %context.job_id, error = %crate::error_chain(&error), ?pause, failures, "renewing the job failed; trying again");
        next = Instant::now() + pause;
    }
}
