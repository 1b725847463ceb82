//! Error answers in the shapes the reference gives per service.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An ordinary GitHub REST error (`{"message", "documentation_url"}`).
pub(crate) fn rest(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message, "documentation_url": "https://docs.github.com/rest"}))).into_response()
}

/// A VSS `WrappedException` (ref §3.4), dispatched on `typeKey` by clients.
pub(crate) fn vss(status: StatusCode, type_key: &str, message: &str) -> Response {
    let body = json!({
        "message": message,
        "typeName": format!("GitHub.DistributedTask.WebApi.{type_key}"),
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000,
    });
    (status, Json(body)).into_response()
}

/// An OAuth error (ref §2: a 400 with a JSON body).
pub(crate) fn oauth(error: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error, "error_description": description}))).into_response()
}
