//! Opening the session, and deleting it at the end (ref §3.3, §6).

use tokio::time::Instant;

use super::pacing::{Verdict, backoff, judge};
use super::{ListenConfig, ListenError};
use crate::broker::{Broker, BrokerError, Session, SessionRequest};

/// Creates the session, retrying a conflict every `conflict_retry` up to `conflict_give_up` and
/// other passing failures with the error backoff (ref §6).
/// `held_elsewhere` tells whether the latest attempt met another process's session.
pub(super) async fn open_session(
    broker: &Broker,
    request: &SessionRequest,
    config: &ListenConfig,
    held_elsewhere: &mut bool,
) -> Result<Session, ListenError> {
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        *held_elsewhere = false;
        let error = match broker.create_session(request).await {
            Ok(session) => return Ok(session),
            Err(error) => error,
        };
        *held_elsewhere = matches!(error, BrokerError::SessionConflict(_));
        let pause = match judge(error) {
            Verdict::Fatal(error) => return Err(error),
            Verdict::Retry(BrokerError::SessionConflict(source)) => {
                let waited = started.elapsed();
                if waited >= config.conflict_give_up {
                    return Err(ListenError::SessionConflict { waited, source: BrokerError::SessionConflict(source) });
                }
                tracing::warn!("another process holds this runner's broker session; trying again");
                config.conflict_retry
            }
            Verdict::Retry(error) | Verdict::NewSession(error) | Verdict::Skip(error) => {
                failures += 1;
                let pause = backoff(config, failures).pick();
                tracing::warn!(error = %crate::error_chain(&error), ?pause, "opening a broker session failed");
                telemetry::runner::forge_error("github", "session");
                pause
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// Deletes the session at the end, best effort and bounded (ref §3.3).
pub(super) async fn delete_session(broker: &Broker, config: &ListenConfig) {
    match tokio::time::timeout(config.delete_timeout, broker.delete_session()).await {
        Ok(Ok(())) => tracing::debug!("broker session deleted"),
        Ok(Err(error)) => tracing::warn!(error = %crate::error_chain(&error), "deleting the broker session failed"),
        Err(_) => tracing::warn!("deleting the broker session timed out"),
    }
}
