//! The broker (ref §3.3): sessions, the message long poll, acknowledge — and [`listen`], the loop
//! that keeps one runner's session polled and hands its messages to the daemon.
//!
//! Every call carries the runner's OAuth token; a 401 mints a fresh one and retries once (ref §6).
//! Broker errors are told apart by the body's `errorKind` (ref §3.3), never by the text.

mod backoff;
pub(crate) mod bearer;
mod listen;
mod message;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

pub use self::backoff::Backoff;
pub use self::listen::{ListenConfig, ListenError, listen};
pub use self::message::{JobRequestRef, Message, MessageError};
use crate::auth::{AccessTokens, AuthError};
use crate::http::{self, HttpError};
use bearer::{BearerError, with_token};

/// How long a message poll may take: the official broker client's timeout (ref §3.7); the
/// server answers an empty poll within a minute.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(100);

/// How long an acknowledge may take; it is best effort and never retried (ref §3.3).
pub const ACKNOWLEDGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The runner's presence as each poll reports it (ref §3.3): `Busy` while it runs a job, so the
/// broker offers it no other job but still delivers the job's cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Online,
    Busy,
}

impl Status {
    /// As the `status` query parameter spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "Online",
            Status::Busy => "Busy",
        }
    }
}

/// What a session is opened for (ref §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub agent_id: u64,
    pub agent_name: String,
    /// `<hostname> (PID: <pid>)`: who holds the session, shown on a conflict.
    pub owner_name: String,
    pub os_description: String,
}

impl SessionRequest {
    /// A session for the runner `agent_id` held by this process on this machine.
    pub fn new(agent_id: u64, agent_name: impl Into<String>) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
        let hostname =
            read("/proc/sys/kernel/hostname").filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into());
        let os_description = match read("/proc/sys/kernel/osrelease") {
            Some(release) if !release.is_empty() => format!("Linux {release}"),
            _ => "Linux".to_owned(),
        };
        Self {
            agent_id,
            agent_name: agent_name.into(),
            owner_name: format!("{hostname} (PID: {})", std::process::id()),
            os_description,
        }
    }
}

/// An open broker session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub session_id: String,
}

/// A failed broker call, classified by what the runner does about it (ref §3.3, §6).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("get the runner's access token")]
    Auth(#[source] AuthError),
    /// 403 on session create: the token is not this runner's (fatal).
    #[error("open a broker session: access denied")]
    AccessDenied(#[source] HttpError),
    /// 409 on session create: another process holds this runner's session.
    #[error("open a broker session: another process holds this runner's session")]
    SessionConflict(#[source] HttpError),
    /// `RunnerNotFound`: the runner was deleted on GitHub (reconfigure).
    #[error("reach the broker: GitHub no longer knows this runner")]
    RunnerNotFound(#[source] HttpError),
    /// `RunnerVersionTooOld`: the broker refuses our runner version (fatal).
    #[error("poll the broker: it refuses runner version {}", crate::RUNNER_VERSION)]
    RunnerVersionTooOld(#[source] HttpError),
    /// `HostedRunnerDeprovisioned`: the runner is to exit.
    #[error("poll the broker: the runner was deprovisioned")]
    Deprovisioned(#[source] HttpError),
    /// `RunnerSessionInvalid`: the session is gone; open another.
    #[error("poll the broker: the session is no longer valid")]
    SessionInvalid(#[source] HttpError),
    /// `AcknowledgeJobNotFound`: the job offered is no longer there.
    #[error("acknowledge the job: the broker no longer has it")]
    AcknowledgeJobNotFound(#[source] HttpError),
    /// 401 even with a freshly minted token (ref §6: non-retriable on poll).
    #[error("reach the broker: a fresh access token was refused too")]
    Unauthorized(#[source] HttpError),
    #[error("reach the broker")]
    Http(#[source] HttpError),
    #[error("read a broker message")]
    Message(#[source] MessageError),
}

/// The broker client of one runner registration.
#[derive(Clone)]
pub struct Broker {
    http: reqwest::Client,
    base: String,
    tokens: Arc<dyn AccessTokens>,
    poll_timeout: Duration,
}

impl Broker {
    /// A client for the broker at `broker_url` (`serverUrlV2`).
    pub fn new(http: reqwest::Client, broker_url: impl Into<String>, tokens: Arc<dyn AccessTokens>) -> Self {
        Self { http, base: broker_url.into(), tokens, poll_timeout: POLL_TIMEOUT }
    }

    /// The same client with another poll timeout (tests with a slow fake).
    pub fn with_poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }

    /// `POST {broker}session` (ref §3.2, §3.3).
    pub async fn create_session(&self, request: &SessionRequest) -> Result<Session, BrokerError> {
        let url = http::join(&self.base, "session");
        let body = json!({
            "sessionId": "00000000-0000-0000-0000-000000000000",
            "ownerName": request.owner_name,
            "agent": {
                "id": request.agent_id,
                "name": request.agent_name,
                "version": crate::RUNNER_VERSION,
                "osDescription": request.os_description,
            },
            "useFipsEncryption": false,
        });
        let answer: Value = self
            .call(|token| {
                let builder = self.http.post(&url).bearer_auth(token).json(&body).timeout(http::CALL_TIMEOUT);
                http::send_json("POST", &url, builder)
            })
            .await?;
        let session_id = answer
            .as_object()
            .and_then(|object| object.iter().find(|(key, _)| key.eq_ignore_ascii_case("sessionId")))
            .and_then(|(_, value)| value.as_str())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                BrokerError::Message(MessageError::Malformed("the session answer has no sessionId".into()))
            })?;
        Ok(Session { session_id: session_id.to_owned() })
    }

    /// One long poll (ref §3.3): the next message, or `None` when the broker answered without one.
    pub async fn poll(&self, session: &Session, status: Status) -> Result<Option<Message>, BrokerError> {
        let url = format!("{}&disableUpdate=true", self.query_url("message", session, status));
        let text = self
            .call(|token| {
                let builder = self.http.get(&url).bearer_auth(token).timeout(self.poll_timeout);
                http::send("GET", &url, builder)
            })
            .await?;
        // ref §3.3: a 2xx without a JSON body means "no message".
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(envelope)) => {
                Message::parse(&Value::Object(envelope)).map(Some).map_err(BrokerError::Message)
            }
            _ => Ok(None),
        }
    }

    /// `POST {broker}acknowledge` (ref §3.3): tells the broker the job reached this runner.
    /// Best effort: bounded by [`ACKNOWLEDGE_TIMEOUT`] and never retried, except once after a 401.
    pub async fn acknowledge(
        &self,
        session: &Session,
        status: Status,
        runner_request_id: &str,
    ) -> Result<(), BrokerError> {
        let url = self.query_url("acknowledge", session, status);
        let body = json!({"runnerRequestId": runner_request_id});
        self.call(|token| {
            let builder = self.http.post(&url).bearer_auth(token).json(&body).timeout(ACKNOWLEDGE_TIMEOUT);
            http::send("POST", &url, builder)
        })
        .await
        .map(drop)
    }

    /// `DELETE {broker}session` (ref §3.3; the token names the runner, no id in the URL).
    pub async fn delete_session(&self) -> Result<(), BrokerError> {
        let url = http::join(&self.base, "session");
        self.call(|token| {
            let builder = self.http.delete(&url).bearer_auth(token).timeout(http::CALL_TIMEOUT);
            http::send("DELETE", &url, builder)
        })
        .await
        .map(drop)
    }

    /// Forgets the current access token (`ForceTokenRefresh`), so the next call mints one.
    pub async fn refresh_token(&self) -> Result<(), BrokerError> {
        let token = self.tokens.access_token().await.map_err(BrokerError::Auth)?;
        self.tokens.invalidate(&token);
        Ok(())
    }

    /// `{broker}<path>?sessionId&status&runnerVersion&os&architecture` (ref §3.3).
    fn query_url(&self, path: &str, session: &Session, status: Status) -> String {
        format!(
            "{}?sessionId={}&status={}&runnerVersion={}&os=Linux&architecture=X64",
            http::join(&self.base, path),
            session.session_id,
            status.as_str(),
            crate::RUNNER_VERSION
        )
    }

    async fn call<T, F, Fut>(&self, call: F) -> Result<T, BrokerError>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, HttpError>>,
    {
        with_token(self.tokens.as_ref(), call).await.map_err(|error| match error {
            BearerError::Auth(error) => BrokerError::Auth(error),
            BearerError::Http(error) => classify(error),
        })
    }
}

/// The broker's error body says what happened (ref §3.3); the status decides the rest.
fn classify(error: HttpError) -> BrokerError {
    match error.body_field("errorKind").as_deref() {
        Some("RunnerNotFound") => return BrokerError::RunnerNotFound(error),
        Some("RunnerVersionTooOld") => return BrokerError::RunnerVersionTooOld(error),
        Some("HostedRunnerDeprovisioned") => return BrokerError::Deprovisioned(error),
        Some("RunnerSessionInvalid") => return BrokerError::SessionInvalid(error),
        Some("AcknowledgeJobNotFound") => return BrokerError::AcknowledgeJobNotFound(error),
        _ => {}
    }
    match error.status() {
        Some(401) => BrokerError::Unauthorized(error),
        Some(403) => BrokerError::AccessDenied(error),
        Some(409) => BrokerError::SessionConflict(error),
        _ => BrokerError::Http(error),
    }
}
