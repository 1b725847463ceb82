//! The console's task: gathers queued lines for up to the flush interval, sends them as
//! batches of ≤ 100 lines, reconnects on failure (ref §5.2) and gives up for a while when the
//! feed stays unreachable.

use futures_util::SinkExt;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{BATCH, Lines, LiveConfig};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(super) struct Target {
    pub url: String,
    pub token: String,
    pub user_agent: String,
    /// For `wss://` feeds.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

#[derive(Debug, thiserror::Error)]
enum SocketError {
    #[error("build the feed request")]
    Request(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("a header value is not valid")]
    Header,
    #[error("talk to the feed")]
    Socket(#[source] tokio_tungstenite::tungstenite::Error),
}

pub(super) async fn run(target: Target, mut queue: mpsc::Receiver<Lines>, config: LiveConfig) {
    let mut socket: Option<Socket> = None;
    let mut off_until: Option<Instant> = None;
    let mut dropped: u64 = 0;
    while let Some(first) = queue.recv().await {
        let mut pending = vec![first];
        let deadline = Instant::now() + config.flush;
        let mut closed = false;
        while pending.iter().map(|p| p.lines.len()).sum::<usize>() < BATCH {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(more)) => pending.push(more),
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let batches = batches(pending);
        if off_until.is_some_and(|until| Instant::now() < until) {
            dropped += batches.iter().map(|b| b.lines.len() as u64).sum::<u64>();
            tracing::debug!(dropped, "live console off; lines dropped from it");
        } else if let Err(error) = send_all(&target, &mut socket, &batches, &config).await {
            dropped += batches.iter().map(|b| b.lines.len() as u64).sum::<u64>();
            tracing::warn!(error = %crate::error_chain(&error), dropped, "live console unreachable; off for a while");
            off_until = Some(Instant::now() + config.give_up);
            socket = None;
        }
        if closed {
            break;
        }
    }
    if let Some(mut socket) = socket {
        let _ = socket.close(None).await;
    }
}

/// Consecutive lines of one step merged, then cut into batches of at most [`BATCH`] lines.
fn batches(pending: Vec<Lines>) -> Vec<Lines> {
    let mut merged: Vec<Lines> = Vec::new();
    for lines in pending {
        match merged.last_mut() {
            Some(last)
                if last.step_id == lines.step_id && last.start_line + last.lines.len() as u64 == lines.start_line =>
            {
                last.lines.extend(lines.lines);
            }
            _ => merged.push(lines),
        }
    }
    let mut out = Vec::new();
    for lines in merged {
        for (index, chunk) in lines.lines.chunks(BATCH).enumerate() {
            out.push(Lines {
                step_id: lines.step_id.clone(),
                start_line: lines.start_line + (index * BATCH) as u64,
                lines: chunk.to_vec(),
            });
        }
    }
    out
}

/// Sends every batch, reconnecting up to the configured tries when a send or connect fails.
async fn send_all(
    target: &Target,
    socket: &mut Option<Socket>,
    batches: &[Lines],
    config: &LiveConfig,
) -> Result<(), SocketError> {
    for batch in batches {
        let text = json!({"count": batch.lines.len(), "value": batch.lines, "stepId": batch.step_id, "startLine": batch.start_line})
            .to_string();
        let mut waits = config.reconnect_waits.iter();
        loop {
            let sent = match socket.as_mut() {
                Some(open) => open.send(Message::text(text.clone())).await.map_err(SocketError::Socket),
                None => match connect(target).await {
                    Ok(open) => {
                        *socket = Some(open);
                        continue;
                    }
                    Err(error) => Err(error),
                },
            };
            match sent {
                Ok(()) => break,
                Err(error) => {
                    *socket = None;
                    match waits.next() {
                        Some(wait) => {
                            tracing::debug!(error = %crate::error_chain(&error), "live console failed; reconnecting");
                            tokio::time::sleep(*wait).await;
                        }
                        None => return Err(error),
                    }
                }
            }
        }
    }
    Ok(())
}

async fn connect(target: &Target) -> Result<Socket, SocketError> {
    let mut request = target.url.as_str().into_client_request().map_err(SocketError::Request)?;
    let headers = request.headers_mut();
    let bearer = format!("Bearer {}", target.token);
    headers.insert("Authorization", bearer.parse().map_err(|_| SocketError::Header)?);
    headers.insert("User-Agent", target.user_agent.parse().map_err(|_| SocketError::Header)?);
    let connector = target.tls.clone().map(tokio_tungstenite::Connector::Rustls);
    let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector)
        .await
        .map_err(SocketError::Socket)?;
    Ok(socket)
}
