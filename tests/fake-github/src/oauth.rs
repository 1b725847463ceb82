//! The OAuth client-credentials token endpoint (ref §2).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::api_error;
use crate::jwt;
use crate::state::Shared;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// (inferred) How far in the future `nbf` may lie before the fake calls it clock skew; the C#
/// client sets `nbf` = now, so a server a little behind must still accept it.
const NBF_LEEWAY_SECS: i64 = 60;

#[derive(Debug, Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST <authorizationUrl>` (ref §2 "Token request").
pub(crate) async fn token(State(shared): State<Arc<Shared>>, Form(request): Form<TokenRequest>) -> Response {
    if request.grant_type.as_deref() != Some("client_credentials") {
        return api_error::oauth("unsupported_grant_type", "grant_type must be client_credentials");
    }
    if request.client_assertion_type.as_deref() != Some(ASSERTION_TYPE) {
        return api_error::oauth("invalid_request", "client_assertion_type must be jwt-bearer");
    }
    let Some(assertion) = request.client_assertion else {
        return api_error::oauth("invalid_request", "client_assertion is missing");
    };
    let claims = match jwt::peek_claims(&assertion) {
        Ok(claims) => claims,
        Err(error) => return api_error::oauth("invalid_client", &format!("failed to {error}")),
    };
    let client_id = claims.iss.clone().unwrap_or_default();
    let runner = {
        let inner = shared.lock();
        inner.runners.values().find(|r| r.view.client_id == client_id).cloned()
    };
    // ref §2: `invalid_client` "Registration <id> was not found" means the runner was deleted.
    let Some(runner) = runner else {
        return api_error::oauth("invalid_client", &format!("Registration {client_id} was not found"));
    };
    if let Err(error) = jwt::verify(&assertion, &runner.public_key) {
        return api_error::oauth("invalid_client", &format!("failed to {error}"));
    }
    // ref §2 claims: iss = sub = clientId, aud = the exact token URL.
    if claims.sub.as_deref() != Some(client_id.as_str()) {
        return api_error::oauth("invalid_client", "sub must equal iss (the client id)");
    }
    let audience = shared.authorization_url();
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(aud)) => *aud == audience,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&audience)),
        _ => false,
    };
    if !aud_ok {
        return api_error::oauth("invalid_client", &format!("aud must be {audience}"));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let skew = || format!("Current server time is {}", time::OffsetDateTime::now_utc());
    // ref §2: a lifetime outside the server's clock is reported with "Current server time is".
    match claims.exp {
        Some(exp) if exp > now => {}
        Some(_) => return api_error::oauth("invalid_client", &format!("the assertion has expired. {}", skew())),
        None => return api_error::oauth("invalid_client", "exp is missing"),
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + NBF_LEEWAY_SECS) {
        return api_error::oauth("invalid_client", &format!("the assertion is not yet valid. {}", skew()));
    }
    let access_token = format!("runner-{}", uuid::Uuid::new_v4().simple());
    shared.lock().access_tokens.insert(access_token.clone(), runner.view.id);
    shared.changed();
    Json(json!({"access_token": access_token, "token_type": "bearer", "expires_in": 3600})).into_response()
}
