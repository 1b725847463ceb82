//! The live console (ref §5.2): a websocket at `FeedStreamUrl` taking batches of lines.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::state::Shared;

/// One batch: `{"count", "value": [lines], "stepId", "startLine"}` (ref §5.2).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    count: usize,
    value: Vec<String>,
    step_id: String,
    start_line: i64,
}

/// Upgrades when the job token (ref §5.2: `Authorization: Bearer <job token>`) is this job's.
pub(crate) async fn feed(
    State(shared): State<Arc<Shared>>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let known = shared.lock().jobs.iter().any(|j| j.id == job_id && Some(j.job_token.as_str()) == token);
    if !known {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    upgrade.on_upgrade(move |socket| receive(shared, job_id, socket))
}

async fn receive(shared: Arc<Shared>, job_id: String, mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        // A malformed batch closes the socket, as a strict server would, so a client bug shows
        // as a reconnect in its logs instead of lines silently missing.
        let Ok(batch) = serde_json::from_str::<Batch>(text.as_str()) else {
            tracing::warn!(%job_id, "malformed live-console batch");
            break;
        };
        if batch.count != batch.value.len() || batch.start_line < 1 {
            tracing::warn!(%job_id, "inconsistent live-console batch");
            break;
        }
        {
            let mut inner = shared.lock();
            let Some(job) = inner.jobs.iter_mut().find(|j| j.id == job_id) else {
                break;
            };
            let record = job.steps.entry(batch.step_id).or_default();
            for (offset, line) in batch.value.into_iter().enumerate() {
                record.live.insert(batch.start_line + offset as i64, line);
            }
        }
        shared.changed();
    }
}
