//! The record of every call the fake answered, for tests that assert on what a client sent.

use axum::http::HeaderMap;

use crate::codec::Codec;
use crate::connect_error::Code;

/// One request as the fake saw it, and how it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// `ping.v1.PingService` or `runner.v1.RunnerService` (or whatever the client asked for).
    pub service: String,
    /// `Register`, `FetchTask`…
    pub method: String,
    /// The request's codec; `None` when its `Content-Type` was neither of the two.
    pub codec: Option<Codec>,
    pub runner_uuid: Option<String>,
    pub runner_token: Option<String>,
    pub request_key: Option<String>,
    pub user_agent: Option<String>,
    pub connect_protocol_version: Option<String>,
    pub content_encoding: Option<String>,
    pub accept_encoding: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The Connect code of an error answer in the Connect shape.
    pub code: Option<Code>,
}

impl Call {
    pub(crate) fn from_request(service: &str, method: &str, headers: &HeaderMap) -> Call {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        Call {
            service: service.to_string(),
            method: method.to_string(),
            codec: Codec::from_headers(headers),
            runner_uuid: header("x-runner-uuid"),
            runner_token: header("x-runner-token"),
            request_key: header("x-runner-request-key"),
            user_agent: header("user-agent"),
            connect_protocol_version: header("connect-protocol-version"),
            content_encoding: header("content-encoding"),
            accept_encoding: header("accept-encoding"),
            status: 0,
            code: None,
        }
    }
}
