//! The runner's side of `runner.v1.RunnerService` and `ping.v1.PingService`: one [`Client`] per
//! Forgejo instance, speaking our own types; the prost messages stay in here.

use std::fmt;
use std::time::Duration;

use crate::connect::{ConnectError, Connection};
use crate::wire::{ping, runner};

/// How long any call may take (forgejo-runner's HTTP client timeout).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one FetchTask may take (forgejo-runner's `fetch_timeout` default).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The header carrying the idempotency key of a FetchTask (forgejo.md §3.4).
pub const REQUEST_KEY_HEADER: &str = "x-runner-request-key";

const PING: &str = "ping.v1.PingService/Ping";
const REGISTER: &str = "runner.v1.RunnerService/Register";
const DECLARE: &str = "runner.v1.RunnerService/Declare";
pub(crate) const FETCH_TASK: &str = "runner.v1.RunnerService/FetchTask";
pub(crate) const UPDATE_TASK: &str = "runner.v1.RunnerService/UpdateTask";
pub(crate) const UPDATE_LOG: &str = "runner.v1.RunnerService/UpdateLog";

/// This program's version, as Register and Declare report it and the user agent carries.
pub fn runner_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The runner token Forgejo handed out at registration. Its Debug output hides it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RunnerToken(String);

impl RunnerToken {
    pub fn new(token: impl Into<String>) -> RunnerToken {
        RunnerToken(token.into())
    }

    /// The token itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RunnerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RunnerToken(***)")
    }
}

/// Who the runner is to Forgejo on every authenticated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uuid: String,
    pub token: RunnerToken,
}

/// What Register sends.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub name: String,
    /// The registration token from Forgejo's "Create new runner" dialog.
    pub registration_token: RunnerToken,
    /// Label names only.
    pub labels: Vec<String>,
    pub ephemeral: bool,
}

/// A runner as Forgejo answers Register and Declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerInfo {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    /// Only in Register's answer: the runner's own token, shown once.
    pub token: Option<RunnerToken>,
    pub version: String,
    pub labels: Vec<String>,
    pub ephemeral: bool,
}

impl From<runner::Runner> for RunnerInfo {
    fn from(runner: runner::Runner) -> RunnerInfo {
        RunnerInfo {
            id: runner.id,
            uuid: runner.uuid,
            name: runner.name,
            token: Some(runner.token).filter(|token| !token.is_empty()).map(RunnerToken),
            version: runner.version,
            labels: runner.labels,
            ephemeral: runner.ephemeral,
        }
    }
}

/// Why a [`Client`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("use {0:?} as a Forgejo URL: it must start with http:// or https://")]
    BadUrl(String),
    #[error("use the runner's uuid or token as an HTTP header: they hold characters headers cannot carry")]
    BadCredentials,
    #[error("set up the HTTP client")]
    Http(#[source] http_client::SetupError),
}

/// One Forgejo instance's runner API.
#[derive(Clone)]
pub struct Client {
    pub(crate) connection: Connection,
    pub(crate) fetch_timeout: Duration,
}

impl Client {
    /// A client of the instance at `url` (e.g. `https://codeberg.org`), without credentials:
    /// enough for Ping and Register.
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::BadUrl(url.to_owned()));
        }
        let agent = format!("solstice-forgejo-runner/{}", runner_version());
        let connection = Connection::new(url, &agent).map_err(ClientError::Http)?;
        Ok(Client { connection, fetch_timeout: FETCH_TIMEOUT })
    }

    /// The same client, sending `credentials` on every call from now on.
    pub fn with_credentials(mut self, credentials: &Credentials) -> Result<Client, ClientError> {
        if !(self.connection.set_header("x-runner-uuid", &credentials.uuid)
            && self.connection.set_header("x-runner-token", credentials.token.expose()))
        {
            return Err(ClientError::BadCredentials);
        }
        Ok(self)
    }

    /// The same client with another FetchTask deadline.
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Client {
        self.fetch_timeout = timeout;
        self
    }

    /// Ping: the server answers `Hello, <data>!`. Needs no credentials.
    pub async fn ping(&self, data: &str) -> Result<String, ConnectError> {
        let request = ping::PingRequest { data: data.to_owned() };
        let answer: ping::PingResponse = self.connection.unary(PING, &request, CALL_TIMEOUT, &[]).await?;
        Ok(answer.data)
    }

    /// Register: trades a registration token for the runner's id, uuid and token.
    pub async fn register(&self, request: &RegisterRequest) -> Result<RunnerInfo, ConnectError> {
        let wire = runner::RegisterRequest {
            name: request.name.clone(),
            token: request.registration_token.expose().to_owned(),
            // Deprecated and ignored by Forgejo, but forgejo-runner still fills it; so do we, in
            // case an older server reads it.
            agent_labels: request.labels.clone(),
            custom_labels: Vec::new(),
            version: runner_version().to_owned(),
            labels: request.labels.clone(),
            ephemeral: request.ephemeral,
        };
        let answer: runner::RegisterResponse = self.connection.unary(REGISTER, &wire, CALL_TIMEOUT, &[]).await?;
        Ok(answer.runner.unwrap_or_default().into())
    }

    /// Declare: replaces the runner's labels and version on the server.
    pub async fn declare(&self, labels: &[String]) -> Result<RunnerInfo, ConnectError> {
        let wire = runner::DeclareRequest { version: runner_version().to_owned(), labels: labels.to_vec() };
        let answer: runner::DeclareResponse = self.connection.unary(DECLARE, &wire, CALL_TIMEOUT, &[]).await?;
        Ok(answer.runner.unwrap_or_default().into())
    }

    /// FetchTask with `tasks_version` and the idempotency key `request_key`; the answer's task
    /// stays in wire form for the conversion to [`crate::task::TaskInput`].
    pub(crate) async fn fetch_task_wire(
        &self,
        tasks_version: i64,
        request_key: &str,
    ) -> Result<runner::FetchTaskResponse, ConnectError> {
        let request = runner::FetchTaskRequest { tasks_version };
        self.connection.unary(FETCH_TASK, &request, self.fetch_timeout, &[(REQUEST_KEY_HEADER, request_key)]).await
    }
}
