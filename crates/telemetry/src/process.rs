//! What every daemon does the same way at its edges: logs to stderr (human text on a terminal,
//! JSON lines otherwise, as journald and Docker want them) and a graceful stop on SIGTERM/SIGINT.

use std::future::Future;

/// Logs to stderr filtered by `RUST_LOG`, else `default_filter` (e.g. `info`).
pub fn init_logs(default_filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// Resolves on SIGTERM or SIGINT, logging `what_now`. The handlers are installed when this is
/// called (inside the runtime), not when the future is first polled: a SIGTERM during start-up
/// is then a graceful stop once serving begins, instead of the default action that kills the
/// process.
pub fn shutdown_signal(what_now: &'static str) -> impl Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: {what_now}");
    }
}
