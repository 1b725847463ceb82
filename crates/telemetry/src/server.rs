//! `/metrics` and `/healthz` over HTTP.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::Registry;

/// Whether the process can do its work: `Err(reason)` answers 503 with the reason.
pub type Health = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serve /metrics and /healthz")]
    Io(#[source] std::io::Error),
}

#[derive(Clone)]
struct Shared {
    registry: Registry,
    health: Health,
}

/// Serves `GET /metrics` (Prometheus text 0.0.4) and `GET /healthz` (`ok`, or 503 and why) on
/// `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(Shared { registry, health });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(ServeError::Io)
}

async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], shared.registry.render())
}

async fn healthz(State(shared): State<Shared>) -> impl IntoResponse {
    match (shared.health)() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {reason}\n")),
    }
}
