//! The broker (ref §3.3, §3.5–§3.7): sessions, the message long poll, acknowledge.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::{Inner, JobPhase, Session, Shared};

/// A broker error body (ref §3.3): `{"source", "errorKind", "statusCode", "errorMessage"}`.
pub(crate) fn broker_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({
        "source": "actions-broker-listener",
        "errorKind": kind,
        "statusCode": status.as_u16(),
        "errorMessage": message,
    });
    (status, Json(body)).into_response()
}

/// The runner an `Authorization: Bearer <runner OAuth token>` header names (ref §2, §3.3), or
/// the answer to give: 401 makes the client refresh its token (ref §6), 503 is an injected fault.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<u64, StatusCode> {
    let mut inner = shared.lock();
    if inner.faults.take_unavailable() {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(StatusCode::UNAUTHORIZED)?;
    inner.access_tokens.get(token).copied().ok_or(StatusCode::UNAUTHORIZED)
}

fn refused(status: StatusCode) -> Response {
    if status == StatusCode::UNAUTHORIZED {
        broker_error(status, "Unauthorized", "the runner token is missing, unknown or expired")
    } else {
        broker_error(status, "ServiceUnavailable", "the broker is unavailable")
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SessionBody {
    agent: SessionAgent,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SessionAgent {
    id: u64,
}

/// `POST {broker}session` (ref §3.2, §3.3): one session per runner; a second is a 409 conflict.
pub(crate) async fn create_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<SessionBody>,
) -> Response {
    let runner_id = match authenticate(&shared, &headers) {
        Ok(id) => id,
        Err(status) => return refused(status),
    };
    // ref §3.3: a session for another runner than the token's is access denied (fatal).
    if body.agent.id != runner_id {
        return broker_error(StatusCode::FORBIDDEN, "AccessDenied", "the session names another runner");
    }
    let session_id = uuid::Uuid::new_v4().to_string();
    {
        let mut inner = shared.lock();
        // ref §6: a deleted runner is told so and cleans up its configuration.
        if !inner.runners.contains_key(&runner_id) {
            return broker_error(StatusCode::NOT_FOUND, "RunnerNotFound", "the runner was deleted");
        }
        if inner.sessions.values().any(|s| s.runner_id == runner_id) {
            return broker_error(
                StatusCode::CONFLICT,
                "TaskAgentSessionConflictException",
                "a session for this runner already exists",
            );
        }
        let session = Session { runner_id, status: "Online".into() };
        inner.sessions.insert(session_id.clone(), session);
    }
    shared.changed();
    Json(json!({
        "sessionId": session_id,
        "ownerName": "fake-github",
        "agent": {"id": runner_id},
        "encryptionKey": {"encrypted": false, "value": ""},
        "useFipsEncryption": false,
    }))
    .into_response()
}

/// `DELETE {broker}session` (ref §3.3; no id in the URL: the token names the runner).
pub(crate) async fn delete_session(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let runner_id = match authenticate(&shared, &headers) {
        Ok(id) => id,
        Err(status) => return refused(status),
    };
    shared.lock().sessions.retain(|_, s| s.runner_id != runner_id);
    shared.changed();
    StatusCode::OK.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PollQuery {
    session_id: Option<String>,
    status: Option<String>,
    runner_version: Option<String>,
}

/// `GET {broker}message?sessionId&status&runnerVersion&os&architecture&disableUpdate` (ref §3.3):
/// holds the poll until a message is there or the configured wait passes (ref §3.7), then
/// answers 200 with an empty body, which the client reads as "no message".
pub(crate) async fn poll(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<PollQuery>,
) -> Response {
    let runner_id = match authenticate(&shared, &headers) {
        Ok(id) => id,
        Err(status) => return refused(status),
    };
    if query.runner_version.as_deref().is_none_or(str::is_empty) {
        return broker_error(StatusCode::BAD_REQUEST, "RunnerVersionTooOld", "runnerVersion is required");
    }
    let status = match query.status.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("online") => "Online",
        Some(s) if s.eq_ignore_ascii_case("busy") => "Busy",
        _ => return broker_error(StatusCode::BAD_REQUEST, "BadRequest", "status must be Online or Busy"),
    };
    let session_id = query.session_id.unwrap_or_default();
    let mut changes = shared.subscribe();
    let until = tokio::time::Instant::now() + shared.config.long_poll;
    {
        let mut inner = shared.lock();
        if !inner.runners.contains_key(&runner_id) {
            return broker_error(StatusCode::NOT_FOUND, "RunnerNotFound", "the runner was deleted");
        }
        // ref §3.3: an unknown session is `RunnerSessionInvalid`, and the runner recreates it.
        match inner.sessions.get_mut(&session_id) {
            Some(session) if session.runner_id == runner_id => session.status = status.into(),
            _ => {
                return broker_error(StatusCode::NOT_FOUND, "RunnerSessionInvalid", "the session is not valid");
            }
        }
    }
    shared.changed();
    loop {
        if let Some(message) = next_message(&mut shared.lock(), runner_id, &session_id, status) {
            shared.changed();
            return Json(message).into_response();
        }
        match tokio::time::timeout_at(until, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => return StatusCode::OK.into_response(),
        }
    }
}

/// Takes the runner's next message, first offering it a queued job it can run while Online.
fn next_message(inner: &mut Inner, runner_id: u64, session_id: &str, status: &str) -> Option<Value> {
    if !inner.sessions.contains_key(session_id) {
        return None;
    }
    if status == "Online" && inner.mailboxes.get(&runner_id).is_none_or(|m| m.is_empty()) {
        offer_job(inner, runner_id);
    }
    inner.mailboxes.get_mut(&runner_id)?.pop_front()
}

fn offer_job(inner: &mut Inner, runner_id: u64) {
    let Some(labels) = inner.runners.get(&runner_id).map(|r| r.view.labels.clone()) else {
        return;
    };
    let fits = |job: &&mut crate::state::Job| {
        job.phase == JobPhase::Queued && !job.cancelled && job.labels.iter().all(|l| labels.contains(l))
    };
    let Some(job) = inner.jobs.iter_mut().find(fits) else {
        return;
    };
    job.phase = JobPhase::Offered { runner_id };
    // ref §3.6: `RunnerJobRequest` body; the broker never encrypts (ref §3.5, `iv` absent).
    let body = json!({
        "id": job.id,
        "runner_request_id": job.runner_request_id,
        "should_acknowledge": true,
        "run_service_url": format!("{}/run/", inner.base),
        "billing_owner_id": "fake-billing-owner",
    });
    push_message(inner, runner_id, "RunnerJobRequest", &body);
}

/// Puts a message in the runner's mailbox in the `TaskAgentMessage` envelope (ref §3.5).
pub(crate) fn push_message(inner: &mut Inner, runner_id: u64, kind: &str, body: &Value) {
    let id = inner.next_message_id;
    inner.next_message_id += 1;
    let message = json!({"messageId": id, "messageType": kind, "iv": null, "body": body.to_string()});
    inner.mailboxes.entry(runner_id).or_default().push_back(message);
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AckBody {
    runner_request_id: String,
}

/// `POST {broker}acknowledge?…` `{"runnerRequestId"}` (ref §3.3).
pub(crate) async fn acknowledge(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<AckBody>,
) -> Response {
    let runner_id = match authenticate(&shared, &headers) {
        Ok(id) => id,
        Err(status) => return refused(status),
    };
    let found = {
        let mut inner = shared.lock();
        let job = inner.jobs.iter_mut().find(|j| j.runner_request_id == body.runner_request_id);
        match job {
            Some(job) if job.phase == (JobPhase::Offered { runner_id }) => {
                job.phase = JobPhase::Acknowledged { runner_id };
                true
            }
            _ => false,
        }
    };
    if !found {
        return broker_error(StatusCode::NOT_FOUND, "AcknowledgeJobNotFound", "no such job offered to this runner");
    }
    shared.changed();
    StatusCode::OK.into_response()
}
