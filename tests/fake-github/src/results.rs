//! The Results service (ref §5.3, §5.4): step status updates, signed blob URLs, metadata, and
//! the blob store the URLs point at.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::{Blob, BlobTarget, Shared};

/// A twirp error (`{"code", "msg"}`).
fn twirp_error(status: StatusCode, code: &str, msg: &str) -> Response {
    (status, Json(json!({"code": code, "msg": msg}))).into_response()
}

/// The job a Results call's job token belongs to (ref §5.1: `Authorization: Bearer <job token>`).
fn job_of(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let token = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?.trim();
    shared.lock().jobs.iter().find(|j| j.job_token == token).map(|j| j.id.clone())
}

fn text(body: &Value, key: &str) -> String {
    body.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// `POST {results}twirp/github.actions.results.api.v1.WorkflowStepUpdateService/WorkflowStepsUpdate`
/// (ref §5.3): numeric status 0/3/5/6 and conclusion 0/2/3/4/7, applied in `change_order`.
pub(crate) async fn steps_update(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if shared.lock().faults.results_unavailable() {
        return twirp_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "results are unavailable");
    }
    let Some(job_id) = job_of(&shared, &headers) else {
        return twirp_error(StatusCode::UNAUTHORIZED, "unauthenticated", "job token missing or unknown");
    };
    if text(&body, "workflow_job_run_backend_id") != job_id {
        return twirp_error(StatusCode::NOT_FOUND, "not_found", "workflow_job_run_backend_id is not this job");
    }
    let Some(change_order) = body.get("change_order").and_then(Value::as_i64) else {
        return twirp_error(StatusCode::BAD_REQUEST, "invalid_argument", "change_order is required");
    };
    let steps = body.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    for step in &steps {
        let status = step.get("status").and_then(Value::as_i64).unwrap_or(0);
        let conclusion = step.get("conclusion").and_then(Value::as_i64).unwrap_or(0);
        if ![0, 3, 5, 6].contains(&status) || ![0, 2, 3, 4, 7].contains(&conclusion) {
            return twirp_error(StatusCode::BAD_REQUEST, "invalid_argument", "status or conclusion out of range");
        }
        if text(step, "external_id").is_empty() {
            return twirp_error(StatusCode::BAD_REQUEST, "invalid_argument", "external_id is required");
        }
    }
    {
        let mut inner = shared.lock();
        let Some(job) = inner.jobs.iter_mut().find(|j| j.id == job_id) else {
            return twirp_error(StatusCode::NOT_FOUND, "not_found", "job gone");
        };
        // (inferred) An update older than one already applied is stale: keeping the newer state
        // is what "monotonic" change orders are for.
        if change_order > job.change_order {
            job.change_order = change_order;
            for step in &steps {
                let record = job.steps.entry(text(step, "external_id")).or_default();
                record.number = step.get("number").and_then(Value::as_i64).unwrap_or(record.number);
                record.name =
                    step.get("name").and_then(Value::as_str).map(str::to_string).unwrap_or(record.name.clone());
                record.status = step.get("status").and_then(Value::as_i64).unwrap_or(0);
                record.conclusion = step.get("conclusion").and_then(Value::as_i64).unwrap_or(0);
            }
        }
    }
    shared.changed();
    Json(json!({})).into_response()
}

/// `POST {results}twirp/results.services.receiver.Receiver/<method>` (ref §5.4).
pub(crate) async fn receiver(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(method): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if shared.lock().faults.results_unavailable() {
        return twirp_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "results are unavailable");
    }
    let Some(job_id) = job_of(&shared, &headers) else {
        return twirp_error(StatusCode::UNAUTHORIZED, "unauthenticated", "job token missing or unknown");
    };
    if text(&body, "workflow_job_run_backend_id") != job_id {
        return twirp_error(StatusCode::NOT_FOUND, "not_found", "workflow_job_run_backend_id is not this job");
    }
    let step_id = text(&body, "step_backend_id");
    match method.as_str() {
        "GetStepLogsSignedBlobURL" => {
            let url = signed_url(&shared, BlobTarget::StepLog { job_id, step_id });
            Json(json!({"logs_url": url, "blob_storage_type": "BLOB_STORAGE_TYPE_AZURE", "soft_size_limit": 2_097_152}))
                .into_response()
        }
        "GetJobLogsSignedBlobURL" => {
            let url = signed_url(&shared, BlobTarget::JobLog { job_id });
            Json(json!({"logs_url": url, "blob_storage_type": "BLOB_STORAGE_TYPE_AZURE", "soft_size_limit": 2_097_152}))
                .into_response()
        }
        "GetStepSummarySignedBlobURL" => {
            let url = signed_url(&shared, BlobTarget::StepSummary { job_id, step_id });
            Json(json!({"summary_url": url, "blob_storage_type": "BLOB_STORAGE_TYPE_AZURE", "soft_size_limit": 1_048_576})).into_response()
        }
        "CreateStepLogsMetadata" => publish(&shared, BlobTarget::StepLog { job_id, step_id }),
        "CreateJobLogsMetadata" => publish(&shared, BlobTarget::JobLog { job_id }),
        "CreateStepSummaryMetadata" => publish(&shared, BlobTarget::StepSummary { job_id, step_id }),
        _ => twirp_error(StatusCode::NOT_FOUND, "bad_route", "no such method"),
    }
}

fn signed_url(shared: &Shared, target: BlobTarget) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let signature = uuid::Uuid::new_v4().simple().to_string();
    let blob = Blob { signature: signature.clone(), target, data: Vec::new(), sealed: false, created: false };
    shared.lock().blobs.insert(id.clone(), blob);
    shared.url(&format!("blobs/{id}?sig={signature}"))
}

/// The metadata call makes the newest uploaded blob for `target` visible (ref §5.4 step 3).
fn publish(shared: &Shared, target: BlobTarget) -> Response {
    {
        let mut inner = shared.lock();
        let Some(blob) = inner.blobs.values().filter(|b| b.target == target && b.created).last().cloned() else {
            return twirp_error(StatusCode::BAD_REQUEST, "failed_precondition", "no blob uploaded for this target");
        };
        let content = String::from_utf8_lossy(&blob.data).into_owned();
        match &target {
            BlobTarget::JobLog { job_id } => {
                if let Some(job) = inner.jobs.iter_mut().find(|j| &j.id == job_id) {
                    job.job_log = Some(content);
                }
            }
            BlobTarget::StepLog { job_id, step_id } | BlobTarget::StepSummary { job_id, step_id } => {
                let Some(job) = inner.jobs.iter_mut().find(|j| &j.id == job_id) else {
                    return twirp_error(StatusCode::NOT_FOUND, "not_found", "job gone");
                };
                let record = job.steps.entry(step_id.clone()).or_default();
                if matches!(target, BlobTarget::StepLog { .. }) {
                    record.log = Some(content);
                } else {
                    record.summary = Some(content);
                }
            }
        }
    }
    shared.changed();
    Json(json!({"ok": true})).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct BlobQuery {
    sig: Option<String>,
    comp: Option<String>,
    seal: Option<String>,
}

/// `PUT logs_url` (ref §5.4 step 2): a BlockBlob in one go, or an AppendBlob created empty and
/// then filled with `comp=appendblock` blocks, the last one sealing it.
pub(crate) async fn put_blob(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(query): Query<BlobQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock();
    if inner.faults.results_unavailable() {
        return (StatusCode::SERVICE_UNAVAILABLE, "ServerBusy").into_response();
    }
    let Some(blob) = inner.blobs.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, "BlobNotFound").into_response();
    };
    // The SAS query authorises, and no Authorization header is sent (ref §5.4 step 2).
    if query.sig.as_deref() != Some(blob.signature.as_str()) || headers.contains_key("authorization") {
        return (StatusCode::FORBIDDEN, "AuthenticationFailed").into_response();
    }
    if blob.sealed {
        return (StatusCode::CONFLICT, "BlobIsSealed").into_response();
    }
    let blob_type = headers.get("x-ms-blob-type").and_then(|v| v.to_str().ok());
    match (query.comp.as_deref(), blob_type) {
        (Some("appendblock"), _) => {
            if !blob.created {
                return (StatusCode::NOT_FOUND, "BlobNotFound").into_response();
            }
            blob.data.extend_from_slice(&body);
            blob.sealed = query.seal.as_deref() == Some("true");
        }
        (None, Some("AppendBlob")) => {
            blob.data.clear();
            blob.created = true;
        }
        (None, Some("BlockBlob") | None) => {
            blob.data = body.to_vec();
            blob.created = true;
            blob.sealed = true;
        }
        _ => return (StatusCode::BAD_REQUEST, "InvalidHeaderValue").into_response(),
    }
    StatusCode::CREATED.into_response()
}
