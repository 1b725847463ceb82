//! [`listen`]: one runner's session, kept open and polled until shutdown (ref §3.3, §3.7, §6).
//!
//! What the loop keeps to:
//! - one poll at a time, carrying the status the daemon last set; a change of status polls again
//!   at once, so the broker learns of `Busy` without waiting for the long poll to end (ref §3.3).
//!   The official runner cancels the poll under way; we leave it to finish in the background and
//!   still hand on what it brings, so no message is lost to a connection we dropped;
//! - polling goes on while `Busy`: that is how a job's cancellation arrives;
//! - a job request is acknowledged (best effort) before it is handed on, as the official
//!   listener does, so the broker does not offer it elsewhere;
//! - `RunnerSessionInvalid` opens a new session; other failures wait 15–30 s for the first five,
//!   then 30–60 s; more than 50 empty polls in 30 minutes pause 15–30 s (ref §3.7, §6);
//! - a deleted runner (`RunnerNotFound`, OAuth `invalid_client`) ends the loop with
//!   [`ListenError::RunnerGone`], which the binary turns into exit 4.

mod pacing;
mod polls;
mod session;

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use self::pacing::{EmptyPolls, Verdict, backoff, judge, until_stopped, wait};
use self::polls::Polls;
use self::session::{delete_session, open_session};
use super::{Backoff, Broker, BrokerError, Message, Session, SessionRequest, Status};

/// The loop's pacing; the defaults are the official runner's (ref §3.7, §6), tests shorten them.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// The wait between session attempts while another process holds the session.
    pub conflict_retry: Duration,
    /// How long to keep trying before a session conflict is final.
    pub conflict_give_up: Duration,
    /// The wait after each of the first `longer_after` consecutive failures.
    pub error_backoff: Backoff,
    /// The wait after later consecutive failures.
    pub later_error_backoff: Backoff,
    pub longer_after: u32,
    /// More than `empty_poll_limit` empty polls within `empty_poll_window` pause the loop.
    pub empty_poll_limit: usize,
    pub empty_poll_window: Duration,
    pub empty_poll_pause: Backoff,
    /// How long deleting the session at shutdown may take.
    pub delete_timeout: Duration,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            conflict_retry: Duration::from_secs(30),
            conflict_give_up: Duration::from_secs(4 * 60),
            error_backoff: Backoff::seconds(15, 30),
            later_error_backoff: Backoff::seconds(30, 60),
            longer_after: 5,
            empty_poll_limit: 50,
            empty_poll_window: Duration::from_secs(30 * 60),
            empty_poll_pause: Backoff::seconds(15, 30),
            delete_timeout: Duration::from_secs(5),
        }
    }
}

/// Why listening stopped before shutdown.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The runner was deleted on GitHub: remove its configuration and configure it again.
    #[error("listen for jobs: GitHub no longer knows this runner; remove it and configure it again")]
    RunnerGone(#[source] BrokerError),
    /// Another process kept this runner's session for the whole of `conflict_give_up`.
    #[error("open a broker session: another process still holds this runner's session after {waited:?}")]
    SessionConflict {
        waited: Duration,
        #[source]
        source: BrokerError,
    },
    /// The broker refused the runner for good (access denied, version too old, deprovisioned,
    /// a fresh token refused).
    #[error("listen for jobs")]
    Refused(#[source] BrokerError),
}

impl ListenError {
    /// Whether the registration is gone for good (the binary exits 4, as for
    /// [`AuthError::InvalidClient`]).
    pub fn registration_gone(&self) -> bool {
        matches!(self, ListenError::RunnerGone(_))
    }
}

/// Opens a session for `request` and polls it until `shutdown` resolves or the receiver of
/// `messages` goes away, then deletes the session (best effort). Job requests, cancellations and
/// shutdown requests are sent on `messages`; token refreshes are handled here and other messages
/// dropped.
///
/// The status each poll reports is the latest value of `status`, except that after handing on a
/// job request the loop reports `Busy` until the daemon sends a status again: `Busy` when it
/// runs the job, `Online` when it dropped it (and again when the job is over).
pub async fn listen(
    broker: &Broker,
    request: &SessionRequest,
    config: &ListenConfig,
    mut status: watch::Receiver<Status>,
    messages: mpsc::Sender<Message>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ListenError> {
    tokio::pin!(shutdown);
    let stop = async {
        tokio::select! {
            () = &mut shutdown => {}
            () = messages.closed() => {}
        }
    };
    tokio::pin!(stop);
    // Whether the last session create met another process's session, which a stop must not
    // delete; a create cut short by a stop may have opened ours, which it must.
    let mut held_elsewhere = false;
    let mut session = match until_stopped(&mut stop, open_session(broker, request, config, &mut held_elsewhere)).await {
        Some(Ok(session)) => session,
        Some(Err(error)) => return Err(error),
        None if held_elsewhere => return Ok(()),
        None => {
            delete_session(broker, config).await;
            return Ok(());
        }
    };
    tracing::info!(session = %session.session_id, "broker session open; listening for jobs");
    let mut failures = 0u32;
    let mut empty = EmptyPolls::default();
    let mut status_open = true;
    // Set after a job request is handed on: the runner reports Busy until the daemon next sets
    // a status, so the broker offers no second job meanwhile (the official listener does not
    // poll at all between a job request and its dispatch).
    let mut job_pending = false;
    let mut polls = Polls::default();
    status.borrow_and_update();
    let result = loop {
        let wanted = if job_pending { Status::Busy } else { *status.borrow() };
        polls.ensure(broker, &session, wanted);
        let answer = tokio::select! {
            biased;
            () = &mut stop => break Ok(()),
            changed = status.changed(), if status_open => {
                // A sender gone keeps the last status; a new one is polled with at once.
                status_open = changed.is_ok();
                job_pending = false;
                continue;
            }
            answer = polls.next() => answer,
        };
        if !answer.current {
            match answer.result {
                Ok(Some(message)) => {
                    job_pending |= matches!(message, Message::RunnerJobRequest(_));
                    if !deliver(broker, &session, answer.status, message, &messages).await {
                        break Ok(());
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::debug!(error = %crate::error_chain(&error), "a superseded poll failed"),
            }
            continue;
        }
        match answer.result {
            Ok(Some(message)) => {
                failures = 0;
                job_pending |= matches!(message, Message::RunnerJobRequest(_));
                if !deliver(broker, &session, answer.status, message, &messages).await {
                    break Ok(());
                }
            }
            Ok(None) => {
                failures = 0;
                if empty.record(Instant::now(), config) {
                    let pause = config.empty_poll_pause.pick();
                    tracing::debug!(?pause, "many empty polls; pausing");
                    if wait(&mut stop, &status, pause).await.is_none() {
                        break Ok(());
                    }
                }
            }
            Err(error) => match judge(error) {
                Verdict::Fatal(error) => break Err(error),
                Verdict::NewSession(error) => {
                    tracing::info!(error = %crate::error_chain(&error), "opening a new broker session");
                    match until_stopped(&mut stop, open_session(broker, request, config, &mut held_elsewhere)).await {
                        None if held_elsewhere => return Ok(()),
                        None => break Ok(()),
                        Some(Err(error)) => return Err(error),
                        Some(Ok(fresh)) => session = fresh,
                    }
                }
                Verdict::Skip(error) => {
                    tracing::warn!(error = %crate::error_chain(&error), "dropping a broker message");
                }
                Verdict::Retry(error) => {
                    failures += 1;
                    let pause = backoff(config, failures).pick();
                    tracing::warn!(error = %crate::error_chain(&error), ?pause, failures, "polling the broker failed");
                    telemetry::runner::forge_error("github", "poll");
                    if until_stopped(&mut stop, tokio::time::sleep(pause)).await.is_none() {
                        break Ok(());
                    }
                }
            },
        }
    };
    if !matches!(result, Err(ListenError::RunnerGone(_))) {
        delete_session(broker, config).await;
    }
    result
}

/// Hands one message on; `false` when nobody listens any more.
async fn deliver(
    broker: &Broker,
    session: &Session,
    status: Status,
    message: Message,
    messages: &mpsc::Sender<Message>,
) -> bool {
    match &message {
        Message::RunnerJobRequest(job) => {
            tracing::info!(job = %job.id, "the broker offers a job");
            if job.should_acknowledge
                && let Err(error) = broker.acknowledge(session, status, &job.runner_request_id).await
            {
                tracing::warn!(job = %job.id, error = %crate::error_chain(&error), "acknowledging the job failed");
            }
        }
        Message::ForceTokenRefresh => {
            if let Err(error) = broker.refresh_token().await {
                tracing::warn!(error = %crate::error_chain(&error), "forgetting the access token failed");
            }
            return true;
        }
        Message::Ignored { message_type } => {
            tracing::debug!(message_type, "ignoring a broker message");
            return true;
        }
        Message::JobCancellation { .. } | Message::RunnerShutdown { .. } => {}
    }
    messages.send(message).await.is_ok()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::auth::{AccessTokens, AuthError};

    /// Tokens that never leave the process: "t1", then "t2" once "t1" is invalidated.
    #[derive(Default)]
    struct Tokens {
        invalidated: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl AccessTokens for Tokens {
        async fn access_token(&self) -> Result<String, AuthError> {
            Ok(format!("t{}", self.invalidated.lock().unwrap().len() + 1))
        }

        fn invalidate(&self, token: &str) {
            self.invalidated.lock().unwrap().push(token.to_owned());
        }
    }

    #[tokio::test]
    async fn token_refreshes_are_handled_here_and_unknown_messages_dropped() {
        let tokens = Arc::new(Tokens::default());
        // Nothing listens there: these messages must not cause a call.
        let broker = Broker::new(reqwest::Client::new(), "http://127.0.0.1:9/broker/", tokens.clone());
        let session = Session { session_id: "s".into() };
        let (sender, mut receiver) = mpsc::channel(4);
        assert!(deliver(&broker, &session, Status::Online, Message::ForceTokenRefresh, &sender).await);
        assert_eq!(*tokens.invalidated.lock().unwrap(), ["t1"]);
        let ignored = Message::Ignored { message_type: "RunnerRefresh".into() };
        assert!(deliver(&broker, &session, Status::Online, ignored, &sender).await);
        let cancel = Message::JobCancellation { job_id: "j".into() };
        assert!(deliver(&broker, &session, Status::Busy, cancel.clone(), &sender).await);
        assert_eq!(receiver.try_recv().ok(), Some(cancel), "only the cancellation is handed on");
        assert!(receiver.try_recv().is_err());
        drop(receiver);
        let shutdown = Message::RunnerShutdown { reason: "r".into() };
        assert!(!deliver(&broker, &session, Status::Online, shutdown, &sender).await, "nobody listens");
    }
}
