//! [`OAuthTokens`]: the runner's access token from its OAuth client (ref §2). A JWT client
//! assertion signed with the runner's key is posted to the authorization URL; the answer is
//! cached, minted again shortly before `expires_in` runs out and after [`AccessTokens::invalidate`].
//! One mint runs at a time; callers arriving meanwhile wait for it and share its token.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{AccessTokens, AuthError};
use crate::files::Registration;
use crate::http::{self, HttpError};
use crate::key::{JwtAlgorithm, RunnerKey};

/// ref §2: the assertion lives 5 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 300;
/// ref §2 (the Go runner): `nbf`/`iat` back-dated so a server clock a little behind ours
/// still accepts the assertion.
const BACKDATE_SECS: i64 = 30;
/// The longest a token is kept before its end: minted again at most this long before
/// `expires_in` runs out (half its life for short-lived tokens).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithm a registration signs with (ref §2): PS256 when FIPS is required or the runner
/// has a broker URL (as github-act-runner does since its PR #224), else RS256.
pub fn algorithm_for(registration: &Registration) -> JwtAlgorithm {
    if registration.require_fips || registration.broker_url.is_some() {
        JwtAlgorithm::Ps256
    } else {
        JwtAlgorithm::Rs256
    }
}

/// The runner's access tokens from its OAuth client.
pub struct OAuthTokens {
    http: reqwest::Client,
    client_id: String,
    authorization_url: String,
    algorithm: JwtAlgorithm,
    key: RunnerKey,
    cached: Mutex<Option<Cached>>,
    /// Held while minting, so concurrent callers wait for one mint instead of each starting one.
    minting: tokio::sync::Mutex<()>,
}

struct Cached {
    token: String,
    /// When to mint a fresh one; `None` when the server gave no lifetime (then only a 401 or
    /// `invalidate` replaces it, as the official runner does).
    refresh_at: Option<Instant>,
}

/// The token endpoint's answer (ref §2); `expires_in` may come as a string from some servers.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

impl OAuthTokens {
    /// Tokens for `registration`'s OAuth client, signed with `key`.
    pub fn new(http: reqwest::Client, registration: &Registration, key: RunnerKey) -> OAuthTokens {
        OAuthTokens {
            http,
            client_id: registration.client_id.clone(),
            authorization_url: registration.authorization_url.clone(),
            algorithm: algorithm_for(registration),
            key,
            cached: Mutex::new(None),
            minting: tokio::sync::Mutex::new(()),
        }
    }

    /// The algorithm this client's assertions use.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// A fresh JWT client assertion (ref §2): iss = sub = client id, aud = the token URL,
    /// `nbf`/`iat` 30 s back, `exp` 5 minutes on, a new `jti`.
    pub fn client_assertion(&self) -> Result<String, AuthError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.authorization_url,
            "nbf": now - BACKDATE_SECS,
            "iat": now - BACKDATE_SECS,
            "exp": now + ASSERTION_LIFETIME_SECS,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        self.key.sign_jwt(self.algorithm, &claims).map_err(|error| AuthError::Rejected(crate::error_chain(&error)))
    }

    /// The cached token if it is still good.
    fn current(&self) -> Option<String> {
        let cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cached = cached.as_ref()?;
        let fresh = cached.refresh_at.is_none_or(|at| Instant::now() < at);
        fresh.then(|| cached.token.clone())
    }

    /// Exchanges a new assertion for a token (ref §2 "Token request").
    async fn mint(&self) -> Result<Cached, AuthError> {
        let assertion = self.client_assertion()?;
        let request = self
            .http
            .post(&self.authorization_url)
            .timeout(http::CALL_TIMEOUT)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ]);
        let answer: TokenAnswer =
            http::send_json("POST", &self.authorization_url, request).await.map_err(|error| classify(&error))?;
        let Some(token) = answer.access_token.filter(|token| !token.is_empty()) else {
            let error = answer.error.unwrap_or_else(|| "no access_token in the answer".into());
            return Err(refusal(&error, answer.error_description.as_deref().unwrap_or("")));
        };
        let lifetime = answer.expires_in.as_ref().and_then(seconds).map(Duration::from_secs);
        let refresh_at = lifetime.map(|lifetime| Instant::now() + lifetime - REFRESH_MARGIN.min(lifetime / 2));
        tracing::debug!(client_id = %self.client_id, ?lifetime, "minted a runner access token");
        Ok(Cached { token, refresh_at })
    }
}

#[async_trait]
impl AccessTokens for OAuthTokens {
    async fn access_token(&self) -> Result<String, AuthError> {
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let _minting = self.minting.lock().await;
        // Someone else may have minted while we waited for the lock.
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let minted = self.mint().await?;
        let token = minted.token.clone();
        *self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(minted);
        Ok(token)
    }

    fn invalidate(&self, token: &str) {
        let mut cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cached.as_ref().is_some_and(|cached| cached.token == token) {
            *cached = None;
        }
    }
}

/// `expires_in` as seconds, from a number or a decimal string.
fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(number) => number.as_u64(),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// What a failed token call means (ref §2, §6).
fn classify(error: &HttpError) -> AuthError {
    match (error.body_field("error"), error.body_field("error_description")) {
        (Some(code), description) if error.status().is_some_and(|status| status < 500) => {
            refusal(&code, description.as_deref().unwrap_or(""))
        }
        _ if error.is_transient() => AuthError::Transient(crate::error_chain(error)),
        _ => AuthError::Rejected(crate::error_chain(error)),
    }
}

/// An OAuth error answer: clock skew first, since the server words an expired or early
/// assertion as `invalid_client` too, then a deleted registration.
fn refusal(code: &str, description: &str) -> AuthError {
    let text = if description.is_empty() { code.to_owned() } else { format!("{code}: {description}") };
    if description.contains("Current server time is") {
        AuthError::ClockSkew(text)
    } else if code == "invalid_client" {
        AuthError::InvalidClient(text)
    } else {
        AuthError::Rejected(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_are_told_apart() {
        let check = |code: &str, description: &str, expected: &str| {
            let got = match refusal(code, description) {
                AuthError::InvalidClient(_) => "invalid_client",
                AuthError::ClockSkew(_) => "clock_skew",
                AuthError::Transient(_) => "transient",
                AuthError::Rejected(_) => "rejected",
            };
            assert_eq!(got, expected, "{code}: {description}");
        };
        check("invalid_client", "Registration 5 was not found", "invalid_client");
        check("invalid_client", "the assertion has expired. Current server time is 2026-01-01", "clock_skew");
        check("unsupported_grant_type", "", "rejected");
    }

    #[test]
    fn a_server_error_is_transient_and_a_plain_400_is_a_refusal() {
        let status =
            |status: u16, body: &str| HttpError::Status { method: "POST", url: "u".into(), status, body: body.into() };
        assert!(matches!(classify(&status(503, "")), AuthError::Transient(_)));
        assert!(matches!(classify(&status(400, "not json")), AuthError::Rejected(_)));
        assert!(matches!(
            classify(&status(400, r#"{"error":"invalid_client","error_description":"gone"}"#)),
            AuthError::InvalidClient(_)
        ));
    }
}
