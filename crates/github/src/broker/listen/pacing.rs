//! How the loop judges failures and paces itself (ref §3.7, §6).

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{ListenConfig, ListenError};
use crate::auth::AuthError;
use crate::broker::{Backoff, BrokerError, Status};

/// What a failed broker call means for the loop.
pub(super) enum Verdict {
    Fatal(ListenError),
    NewSession(BrokerError),
    Skip(BrokerError),
    Retry(BrokerError),
}

pub(super) fn judge(error: BrokerError) -> Verdict {
    match error {
        BrokerError::RunnerNotFound(_) | BrokerError::Auth(AuthError::InvalidClient(_)) => {
            Verdict::Fatal(ListenError::RunnerGone(error))
        }
        BrokerError::AccessDenied(_)
        | BrokerError::RunnerVersionTooOld(_)
        | BrokerError::Deprovisioned(_)
        | BrokerError::Unauthorized(_) => Verdict::Fatal(ListenError::Refused(error)),
        BrokerError::SessionInvalid(_) => Verdict::NewSession(error),
        BrokerError::Message(_) | BrokerError::AcknowledgeJobNotFound(_) => Verdict::Skip(error),
        BrokerError::Auth(_) | BrokerError::SessionConflict(_) | BrokerError::Http(_) => Verdict::Retry(error),
    }
}

pub(super) fn backoff(config: &ListenConfig, failures: u32) -> Backoff {
    if failures <= config.longer_after { config.error_backoff } else { config.later_error_backoff }
}

/// `work`, unless `stop` comes first (`None`).
pub(super) async fn until_stopped<T>(
    stop: &mut (impl Future<Output = ()> + Unpin),
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        () = stop => None,
        done = work => Some(done),
    }
}

/// A pause that a stop ends (`None`) and a change of status cuts short. The change is left
/// unseen on `status`, for the loop to act on.
pub(super) async fn wait(
    stop: &mut (impl Future<Output = ()> + Unpin),
    status: &watch::Receiver<Status>,
    pause: Duration,
) -> Option<()> {
    let mut status = status.clone();
    until_stopped(stop, async {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = status.changed() => {}
        }
    })
    .await
}

/// The empty polls of the last `empty_poll_window` (ref §3.7).
#[derive(Debug, Default)]
pub(super) struct EmptyPolls {
    at: VecDeque<Instant>,
}

impl EmptyPolls {
    /// Records an empty poll; `true` when there were too many and the loop should pause. The
    /// count starts afresh after a pause.
    pub fn record(&mut self, now: Instant, config: &ListenConfig) -> bool {
        while self.at.front().is_some_and(|first| now.duration_since(*first) > config.empty_poll_window) {
            self.at.pop_front();
        }
        self.at.push_back(now);
        if self.at.len() > config.empty_poll_limit {
            self.at.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_limit_of_empty_polls_in_the_window_pauses_once() {
        let config =
            ListenConfig { empty_poll_limit: 3, empty_poll_window: Duration::from_secs(60), ..Default::default() };
        let start = Instant::now();
        let mut empty = EmptyPolls::default();
        let at = |secs: u64| start + Duration::from_secs(secs);
        // Spread out, old polls leave the window: never more than three inside it.
        for secs in [0, 25, 50, 75, 100, 125] {
            assert!(!empty.record(at(secs), &config), "at {secs}s");
        }
        // Four within a minute: the fourth pauses, and the count starts again.
        for secs in [200, 201, 202] {
            assert!(!empty.record(at(secs), &config), "at {secs}s");
        }
        assert!(empty.record(at(203), &config));
        assert!(!empty.record(at(204), &config));
    }

    #[test]
    fn failures_back_off_longer_after_the_first_five() {
        let config = ListenConfig::default();
        assert_eq!(backoff(&config, 1), Backoff::seconds(15, 30));
        assert_eq!(backoff(&config, 5), Backoff::seconds(15, 30));
        assert_eq!(backoff(&config, 6), Backoff::seconds(30, 60));
    }
}
