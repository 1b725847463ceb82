//! The HTTP client every GitHub call shares: one User-Agent (ref §0: runner-registration answers
//! depend on it), URL joining that keeps the base's path (ref §0 "Base-URL joining"), and an
//! error that keeps the status and the body so each service can read its own error shape.

use std::time::Duration;

/// How long one ordinary call may take. Long polls set their own timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed HTTP call: the request never got an answer, or the answer was not a success.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: no answer")]
    Transport {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url}: HTTP {status}: {}", summary(body))]
    Status { method: &'static str, url: String, status: u16, body: String },
    #[error("{method} {url}: the answer is not the JSON expected")]
    Decode {
        method: &'static str,
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl HttpError {
    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            HttpError::Transport { .. } | HttpError::Decode { .. } => None,
        }
    }

    /// The answer's body, when there was one.
    pub fn body(&self) -> Option<&str> {
        match self {
            HttpError::Status { body, .. } => Some(body),
            HttpError::Transport { .. } | HttpError::Decode { .. } => None,
        }
    }

    /// Worth another try later: no answer, a 5xx, 429 or 408.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Transport { .. } => true,
            HttpError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            HttpError::Decode { .. } => false,
        }
    }

    /// A string field of a JSON error body (`errorKind`, `error`, `typeKey`, `message`…),
    /// matched case-insensitively as the servers' serializers vary (ref §0).
    pub fn body_field(&self, name: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(self.body()?).ok()?;
        let object = value.as_object()?;
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str().map(str::to_owned))
    }
}

/// The first 300 characters of a body, on one line.
fn summary(body: &str) -> String {
    let one_line: String = body.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
    if one_line.trim().is_empty() { "(empty body)".to_owned() } else { one_line }
}

/// `base` with `path` appended: a missing trailing `/` on the base is added first, so the base's
/// last segment is kept (ref §0).
pub fn join(base: &str, path: &str) -> String {
    let mut url = base.to_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(path.trim_start_matches('/'));
    url
}

/// The User-Agent every call sends.
pub fn user_agent() -> String {
    format!("GitHubActionsRunner-Linux-X64/{} SolsticeCI/{}", crate::RUNNER_VERSION, env!("CARGO_PKG_VERSION"))
}

/// A reqwest client with our User-Agent and no overall timeout (each call sets its own);
/// proxies and extra CA certificates come from the environment (see `http_client`).
pub fn client() -> Result<reqwest::Client, http_client::SetupError> {
    http_client::client(|builder| builder.user_agent(user_agent()).connect_timeout(Duration::from_secs(10)))
}

/// Sends `request`; a non-2xx answer becomes [`HttpError::Status`] with its body.
pub async fn send(method: &'static str, url: &str, request: reqwest::RequestBuilder) -> Result<String, HttpError> {
    let response =
        request.send().await.map_err(|source| HttpError::Transport { method, url: url.to_owned(), source })?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|source| HttpError::Transport { method, url: url.to_owned(), source })?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(HttpError::Status { method, url: url.to_owned(), status, body })
    }
}

/// [`send`], then the body decoded as JSON.
pub async fn send_json<T: serde::de::DeserializeOwned>(
    method: &'static str,
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<T, HttpError> {
    let body = send(method, url, request).await?;
    serde_json::from_str(&body).map_err(|source| HttpError::Decode { method, url: url.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_the_base_path() {
        assert_eq!(join("http://h/run", "acquirejob"), "http://h/run/acquirejob");
        assert_eq!(join("http://h/run/", "/acquirejob"), "http://h/run/acquirejob");
    }

    #[test]
    fn body_fields_are_found_whatever_their_case() {
        let error = HttpError::Status {
            method: "GET",
            url: "u".into(),
            status: 400,
            body: r#"{"ErrorKind":"RunnerNotFound"}"#.into(),
        };
        assert_eq!(error.body_field("errorKind").as_deref(), Some("RunnerNotFound"));
        assert_eq!(error.body_field("missing"), None);
    }
}
