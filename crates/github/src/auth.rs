//! The runner's OAuth access token (ref §2): a JWT client assertion signed with the runner's key,
//! exchanged for an access token, cached, and refreshed on a 401 (and before it expires).
//!
//! [`AccessTokens`] is what the broker and run-service clients hold; the OAuth implementation
//! lives below it.

use async_trait::async_trait;

/// Where broker and acquirejob calls get their `Authorization: Bearer` token.
#[async_trait]
pub trait AccessTokens: Send + Sync {
    /// The current access token, minting one when there is none or it is about to expire.
    async fn access_token(&self) -> Result<String, AuthError>;
    /// Forgets `token` after the server refused it (401 or `ForceTokenRefresh`), so the next
    /// [`AccessTokens::access_token`] mints a fresh one. A token already replaced is left alone.
    fn invalidate(&self, token: &str);
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// `invalid_client`: the registration was deleted on GitHub (ref §2, §6). Reconfigure.
    #[error("GitHub no longer knows this runner (invalid_client: {0}); remove it and configure it again")]
    InvalidClient(String),
    /// The server says the local clock is off by more than 5 minutes (ref §2).
    #[error("GitHub refused the runner's token request because this machine's clock is off: {0}")]
    ClockSkew(String),
    /// No answer, or a 5xx: worth another try.
    #[error("could not get an access token: {0}")]
    Transient(String),
    /// Any other refusal.
    #[error("GitHub refused the runner's token request: {0}")]
    Rejected(String),
}

impl AuthError {
    /// Whether the registration is gone for good (the binary exits 4).
    pub fn registration_gone(&self) -> bool {
        matches!(self, AuthError::InvalidClient(_))
    }
}

mod oauth;

pub use oauth::{OAuthTokens, algorithm_for};
