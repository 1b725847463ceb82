//! Calls made with the runner's OAuth token: on a 401 the token is forgotten, a fresh one minted
//! and the call made once more (ref §2 "Lifetime/refresh", §6 first row).

use std::future::Future;

use crate::auth::{AccessTokens, AuthError};
use crate::http::HttpError;

/// Why a call made with the runner's token failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BearerError {
    #[error("get the runner's access token")]
    Auth(#[source] AuthError),
    #[error(transparent)]
    Http(HttpError),
}

/// Runs `call` with the current access token; after a 401 once more with a fresh one. A second
/// 401 is returned as it is: the caller decides whether that is final.
pub(crate) async fn with_token<T, F, Fut>(tokens: &dyn AccessTokens, mut call: F) -> Result<T, BearerError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, HttpError>>,
{
    let token = tokens.access_token().await.map_err(BearerError::Auth)?;
    match call(token.clone()).await {
        Err(error) if error.status() == Some(401) => {
            tracing::debug!("the runner's access token was refused; minting a fresh one");
            tokens.invalidate(&token);
            let fresh = tokens.access_token().await.map_err(BearerError::Auth)?;
            call(fresh).await.map_err(BearerError::Http)
        }
        other => other.map_err(BearerError::Http),
    }
}
