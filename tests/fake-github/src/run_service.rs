//! The run service (ref §4.1, §4.3, §4.4): acquire, renew, complete.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::broker::authenticate;
use crate::state::{JobPhase, Shared};

/// A run-service error body (ref §4.1): `{"source", "statusCode", "errorMessage"}`.
fn run_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"source": "actions-run-service", "statusCode": status.as_u16(), "errorMessage": message});
    (status, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AcquireBody {
    job_message_id: String,
}

/// `POST {run_service_url}acquirejob` with the runner OAuth token (ref §4.1): the job message,
/// once; 404 for an id never offered to this runner, 409 when already acquired.
pub(crate) async fn acquire(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<AcquireBody>,
) -> Response {
    let runner_id = match authenticate(&shared, &headers) {
        Ok(id) => id,
        Err(status) => return run_error(status, "the runner token is missing or unknown"),
    };
    let message = {
        let mut inner = shared.lock();
        let Some(job) = inner.jobs.iter_mut().find(|j| j.runner_request_id == body.job_message_id) else {
            return run_error(StatusCode::NOT_FOUND, "job message not found");
        };
        match job.phase {
            JobPhase::Offered { runner_id: r } | JobPhase::Acknowledged { runner_id: r } if r == runner_id => {}
            JobPhase::Acquired { .. } | JobPhase::Completed { .. } => {
                return run_error(StatusCode::CONFLICT, "job already acquired");
            }
            _ => return run_error(StatusCode::NOT_FOUND, "job message not found"),
        }
        job.phase = JobPhase::Acquired { runner_id };
        job.message.clone()
    };
    shared.changed();
    Json(message).into_response()
}

/// The job a job token belongs to (ref §0: the third token kind), with the body's ids checked.
fn job_for(
    shared: &Shared,
    headers: &HeaderMap,
    plan_id: &str,
    job_id: &str,
) -> Result<usize, (StatusCode, &'static str)> {
    let mut inner = shared.lock();
    if inner.faults.take_unavailable() {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "the run service is unavailable"));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(index) = inner.jobs.iter().position(|j| Some(j.job_token.as_str()) == token) else {
        return Err((StatusCode::UNAUTHORIZED, "the job token is missing or unknown"));
    };
    let job = &inner.jobs[index];
    if job.plan_id != plan_id || job.id != job_id {
        return Err((StatusCode::NOT_FOUND, "no such job in this plan"));
    }
    Ok(index)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobIds {
    plan_id: String,
    job_id: String,
}

/// `POST {url}renewjob` `{planId, jobId}` → `{"lockedUntil"}` (ref §4.3); 404 once the job is
/// over, which tells the runner to abandon it.
pub(crate) async fn renew(State(shared): State<Arc<Shared>>, headers: HeaderMap, Json(body): Json<JobIds>) -> Response {
    let index = match job_for(&shared, &headers, &body.plan_id, &body.job_id) {
        Ok(index) => index,
        Err((status, message)) => return run_error(status, message),
    };
    {
        let mut inner = shared.lock();
        let job = &mut inner.jobs[index];
        if !matches!(job.phase, JobPhase::Acquired { .. }) {
            return run_error(StatusCode::NOT_FOUND, "the job is no longer running");
        }
        job.renewals += 1;
    }
    shared.changed();
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    let until = until.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Json(json!({"lockedUntil": until})).into_response()
}

/// `POST {url}completejob` (ref §4.4): records conclusion, outputs, stepResults, annotations.
pub(crate) async fn complete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let plan_id = body.get("planId").and_then(Value::as_str).unwrap_or_default();
    let job_id = body.get("jobId").and_then(Value::as_str).unwrap_or_default();
    let index = match job_for(&shared, &headers, plan_id, job_id) {
        Ok(index) => index,
        Err((status, message)) => return run_error(status, message),
    };
    if body.get("conclusion").and_then(Value::as_str).is_none() {
        return run_error(StatusCode::BAD_REQUEST, "conclusion is required");
    }
    let (runner_id, ephemeral) = {
        let mut inner = shared.lock();
        let job = &mut inner.jobs[index];
        let JobPhase::Acquired { runner_id } = job.phase else {
            return run_error(StatusCode::NOT_FOUND, "the job is not running");
        };
        job.phase = JobPhase::Completed { runner_id };
        job.completion = Some(body);
        (runner_id, inner.runners.get(&runner_id).is_some_and(|runner| runner.view.ephemeral))
    };
    // ref §1.6: an ephemeral runner runs one job; the service deletes it once that job is done
    // (which tells the waiters of the change too).
    if ephemeral {
        shared.delete_runner(runner_id);
    } else {
        shared.changed();
    }
    StatusCode::OK.into_response()
}
