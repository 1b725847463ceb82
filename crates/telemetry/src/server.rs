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

/// `/metrics` and `/healthz` served in the background until dropped.
pub struct Endpoint {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// Listens on `addr` and serves `registry`. `/healthz` answers `ok` while the process is
    /// up: our daemons exit (code 3) rather than linger when they cannot work, so being up and
    /// answering is the health a supervisor needs.
    pub async fn start(addr: std::net::SocketAddr, registry: Registry) -> Result<Endpoint, std::io::Error> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        let task = tokio::spawn(async move {
            let health: Health = Arc::new(|| Ok(()));
            if let Err(error) = serve(listener, registry, health, std::future::pending()).await {
                tracing::error!(%error, "the metrics endpoint stopped");
            }
        });
        Ok(Endpoint { addr, task })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The variable naming where a daemon serves `/metrics` and `/healthz`.
pub const METRICS_ADDR_ENV: &str = "SOLSTICE_METRICS_ADDR";

/// `SOLSTICE_METRICS_ADDR` as `ADDRESS:PORT`; unset or empty is `None`, anything else that
/// does not parse is an error naming it.
pub fn addr_from_env() -> Result<Option<std::net::SocketAddr>, String> {
    match std::env::var(METRICS_ADDR_ENV) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{METRICS_ADDR_ENV} is not ADDRESS:PORT (e.g. 127.0.0.1:9464): {text:?}")),
        _ => Ok(None),
    }
}

/// The metrics endpoint could not listen.
#[derive(Debug, thiserror::Error)]
#[error("listen on the metrics address {addr}")]
pub struct ListenError {
    pub addr: std::net::SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Runs `work` with the global registry served on `addr` (when given) for as long as it runs.
pub async fn serving<T>(
    addr: Option<std::net::SocketAddr>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, ListenError> {
    let _endpoint = match addr {
        Some(addr) => {
            Some(Endpoint::start(addr, crate::global().clone()).await.map_err(|source| ListenError { addr, source })?)
        }
        None => None,
    };
    Ok(work.await)
}
