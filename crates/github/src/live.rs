//! The live console (ref §5.2): lines streamed to the run page over a websocket to the job's
//! `FeedStreamUrl` while a step runs. It is a nicety: the logs reach GitHub through Results
//! anyway, so the console never holds up the report — lines go through a bounded queue and are
//! dropped (and counted) when the queue is full or the socket is down.

mod socket;

use std::time::Duration;

use tokio::sync::mpsc;

/// Lines of one step for the console, `start_line` being the 1-based number of `lines[0]`
/// within the step.
#[derive(Debug, Clone)]
struct Lines {
    step_id: String,
    start_line: u64,
    lines: Vec<String>,
}

/// Timings of the console (ref §5.2); the defaults are the official runner's.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// A line waits at most this long before it is sent.
    pub flush: Duration,
    /// Reconnection tries after a failure, and the waits before each.
    pub reconnect_waits: Vec<Duration>,
    /// After failed reconnections, how long the console stays off.
    pub give_up: Duration,
    /// Queued line batches before new ones are dropped.
    pub queue: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            flush: Duration::from_millis(100),
            reconnect_waits: vec![Duration::from_millis(100), Duration::from_millis(250), Duration::from_millis(500)],
            give_up: Duration::from_secs(600),
            queue: 1000,
        }
    }
}

/// The TLS configuration of every wss:// console of this process, built once.
fn tls_config() -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    static TLS: std::sync::OnceLock<Result<std::sync::Arc<rustls::ClientConfig>, String>> = std::sync::OnceLock::new();
    TLS.get_or_init(|| http_client::tls_config().map_err(|error| crate::error_chain(&error))).clone()
}

/// Batches are at most this many lines (ref §5.2).
pub const BATCH: usize = 100;

/// The console of one job; dropping it sends what is queued and closes the socket.
pub struct LiveConsole {
    queue: mpsc::Sender<Lines>,
    dropped: u64,
}

impl LiveConsole {
    /// Starts the console's task for `feed_url` (`ws://`, or `wss://` trusting what the forge
    /// clients trust: the system roots and `SOLSTICE_CA_FILE`), or `None` when it cannot be
    /// reached at all (the logs still arrive through Results).
    pub fn start(http_user_agent: String, feed_url: &str, job_token: &str, config: LiveConfig) -> Option<LiveConsole> {
        let tls = if feed_url.starts_with("wss://") {
            match tls_config() {
                Ok(tls) => Some(tls),
                Err(reason) => {
                    tracing::warn!(url = %feed_url, %reason, "no live console: no TLS; the logs arrive after each step");
                    return None;
                }
            }
        } else if feed_url.starts_with("ws://") {
            None
        } else {
            tracing::info!(url = %feed_url, "no live console: not a websocket URL; the logs arrive after each step");
            return None;
        };
        let (queue, receiver) = mpsc::channel(config.queue.max(1));
        let target =
            socket::Target { url: feed_url.to_owned(), token: job_token.to_owned(), user_agent: http_user_agent, tls };
        tokio::spawn(socket::run(target, receiver, config));
        Some(LiveConsole { queue, dropped: 0 })
    }

    /// Queues `lines` of the step `step_id`, the first being line `start_line` (1-based) of
    /// the step. Never waits: when the queue is full the lines are dropped from the console.
    pub fn send(&mut self, step_id: &str, start_line: u64, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let batch = Lines { step_id: step_id.to_owned(), start_line, lines: lines.to_vec() };
        if self.queue.try_send(batch).is_err() {
            self.dropped += lines.len() as u64;
            tracing::debug!(dropped = self.dropped, "live console behind or closed; lines dropped from it");
        }
    }
}
