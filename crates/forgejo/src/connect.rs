//! Connect unary calls over HTTP/1.1 (forgejo.md §1): one `POST` per call, the bare protobuf
//! message as the body, and on failure a JSON body whose `code` decides what the error means.
//! Connect unary is simple enough that we speak it ourselves over reqwest rather than pull in a
//! Connect runtime whose codegen would replace our prost types (docs/dependencies.md).

use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde::Deserialize;

/// The Connect error codes (the `code` field of an error body, in snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

const CODES: [(Code, &str); 16] = [
    (Code::Canceled, "canceled"),
    (Code::Unknown, "unknown"),
    (Code::InvalidArgument, "invalid_argument"),
    (Code::DeadlineExceeded, "deadline_exceeded"),
    (Code::NotFound, "not_found"),
    (Code::AlreadyExists, "already_exists"),
    (Code::PermissionDenied, "permission_denied"),
    (Code::ResourceExhausted, "resource_exhausted"),
    (Code::FailedPrecondition, "failed_precondition"),
    (Code::Aborted, "aborted"),
    (Code::OutOfRange, "out_of_range"),
    (Code::Unimplemented, "unimplemented"),
    (Code::Internal, "internal"),
    (Code::Unavailable, "unavailable"),
    (Code::DataLoss, "data_loss"),
    (Code::Unauthenticated, "unauthenticated"),
];

impl Code {
    /// The code named by an error body; `None` for a name Connect does not define.
    pub fn from_name(name: &str) -> Option<Code> {
        CODES.iter().find(|(_, text)| *text == name).map(|(code, _)| *code)
    }

    /// The snake_case name the wire uses.
    pub fn name(self) -> &'static str {
        CODES.iter().find(|(code, _)| *code == self).map_or("unknown", |(_, text)| text)
    }

    /// The code for an error response that carries no Connect error body (a proxy's page, or a
    /// server that answered 404 for a method it does not know), following the Connect
    /// protocol's table for HTTP statuses.
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            408 | 499 => Code::DeadlineExceeded,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a call failed. [`ConnectError::code`] is what callers decide on.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The request did not get an HTTP answer (connection refused, reset, TLS, …).
    #[error("call {rpc}")]
    Transport {
        rpc: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// No answer within the call's deadline.
    #[error("get an answer to {rpc} within {after:?}")]
    Timeout { rpc: &'static str, after: Duration },
    /// The server (or a proxy in front of it) answered with an error.
    #[error("call {rpc}: the server answered {code} (HTTP {status}): {message}")]
    Status { rpc: &'static str, code: Code, status: u16, message: String },
    /// A 200 whose body is not the expected message.
    #[error("decode the answer to {rpc}")]
    Decode {
        rpc: &'static str,
        #[source]
        source: prost::DecodeError,
    },
}

impl ConnectError {
    /// The Connect code: the server's for [`ConnectError::Status`], `unavailable` for transport
    /// errors, `deadline_exceeded` for timeouts and `internal` for an undecodable answer.
    pub fn code(&self) -> Code {
        match self {
            ConnectError::Transport { .. } => Code::Unavailable,
            ConnectError::Timeout { .. } => Code::DeadlineExceeded,
            ConnectError::Status { code, .. } => *code,
            ConnectError::Decode { .. } => Code::Internal,
        }
    }

    /// Whether trying the same call again later may succeed: transport errors, timeouts,
    /// `unavailable`, `deadline_exceeded`, `unknown` (a proxy's page) and `internal` (Forgejo's
    /// answer to database trouble).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code(),
            Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Unknown
                | Code::Internal
                | Code::Aborted
                | Code::ResourceExhausted
        )
    }

    /// Whether the request may never have reached the server, so a task it assigned may be
    /// recovered by repeating the call with the same request key.
    pub fn lost_in_transit(&self) -> bool {
        matches!(self, ConnectError::Transport { .. } | ConnectError::Timeout { .. })
            || matches!(self.code(), Code::Unavailable | Code::DeadlineExceeded)
    }
}

/// The body of a Connect error response.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// One HTTP connection pool to one Forgejo instance, with the headers every call carries.
#[derive(Clone)]
pub(crate) struct Connection {
    http: reqwest::Client,
    /// `<instance>/api/actions`, without a trailing slash.
    base: String,
    headers: HeaderMap,
}

impl Connection {
    /// `instance` is the Forgejo URL as the user gave it; a trailing `/` is dropped.
    pub(crate) fn new(instance: &str, user_agent: &str) -> Result<Connection, http_client::SetupError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/proto"));
        headers.insert(HeaderName::from_static("connect-protocol-version"), HeaderValue::from_static("1"));
        if let Ok(agent) = HeaderValue::from_str(user_agent) {
            headers.insert(USER_AGENT, agent);
        }
        // reqwest's gzip feature sends `Accept-Encoding: gzip` and inflates the answer itself;
        // proxies and extra CA certificates come from the environment (see `http_client`).
        let http = http_client::client(|builder| builder.gzip(true))?;
        Ok(Connection { http, base: format!("{}/api/actions", instance.trim_end_matches('/')), headers })
    }

    /// Adds a header sent on every later call (the runner's uuid and token).
    pub(crate) fn set_header(&mut self, name: &'static str, value: &str) -> bool {
        match HeaderValue::from_str(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(HeaderName::from_static(name), value);
                true
            }
            Err(_) => false,
        }
    }

    /// One unary call: `rpc` is the path below `/api/actions`, e.g.
    /// `runner.v1.RunnerService/FetchTask`.
    pub(crate) async fn unary<Req, Resp>(
        &self,
        rpc: &'static str,
        request: &Req,
        timeout: Duration,
        extra: &[(&'static str, &str)],
    ) -> Result<Resp, ConnectError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let mut headers = self.headers.clone();
        for (name, value) in extra {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        let call = async {
            let response = self
                .http
                .post(format!("{}/{rpc}", self.base))
                .headers(headers)
                .body(request.encode_to_vec())
                .send()
                .await
                .map_err(|source| ConnectError::Transport { rpc, source })?;
            let status = response.status().as_u16();
            let json = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.starts_with("application/json"));
            let body = response.bytes().await.map_err(|source| ConnectError::Transport { rpc, source })?;
            if status == 200 {
                return Resp::decode(body).map_err(|source| ConnectError::Decode { rpc, source });
            }
            Err(error_from(rpc, status, json, &body))
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout { rpc, after: timeout }),
        }
    }
}

/// The error an error response stands for: the Connect body's `code` when it has one, else the
/// HTTP status's (a proxy's HTML page carries no code).
fn error_from(rpc: &'static str, status: u16, json: bool, body: &[u8]) -> ConnectError {
    if json && let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        let code = Code::from_name(&parsed.code).unwrap_or(Code::Unknown);
        return ConnectError::Status { rpc, code, status, message: parsed.message };
    }
    let code = Code::from_http_status(status);
    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    ConnectError::Status { rpc, code, status, message: format!("HTTP {status} {reason}").trim_end().to_owned() }
}
