//! The endpoints over real HTTP on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use telemetry::{Health, Registry, serve};

async fn start(registry: Registry, health: Health) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, registry, health, async {
        let _ = stopped.await;
    }));
    (base, stop)
}

#[tokio::test]
async fn metrics_are_served_as_prometheus_text() {
    let registry = Registry::new();
    registry.counter("solstice_bus_errors_total", "Bus errors.", &[]).add(5);
    let (base, _stop) = start(registry, Arc::new(|| Ok(()))).await;
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    assert!(response.text().await.unwrap().contains("solstice_bus_errors_total 5\n"));
}

#[tokio::test]
async fn healthz_follows_the_check() {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let health: Health =
        Arc::new(move || if flag.load(Ordering::SeqCst) { Ok(()) } else { Err("the broker is gone".into()) });
    let (base, _stop) = start(Registry::new(), health).await;
    let ok = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(ok.status(), 200);
    healthy.store(false, Ordering::SeqCst);
    let down = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(down.status(), 503);
    assert!(down.text().await.unwrap().contains("the broker is gone"));
}
