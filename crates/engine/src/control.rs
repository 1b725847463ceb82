//! Control while a job runs: cancel (from the host or the job's own timeout) and the workspace
//! stream of a checkout. One task reads the control channel and splits it; the job loop watches
//! the cancel state and the checkout step reads the workspace messages.

use std::sync::Arc;

use base64::Engine as _;
use contract::ControlMessage;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Where the host's control messages come from.
pub type ControlReceiver = mpsc::Receiver<ControlMessage>;

#[derive(Debug, Clone, PartialEq)]
pub enum CancelReason {
    /// `ControlMessage::Cancel`.
    Requested(String),
    /// The job ran longer than its `timeout-minutes`.
    JobTimeout { minutes: f64 },
}

impl CancelReason {
    /// The job log's wording, GitHub's where it has one.
    pub fn message(&self, runner_name: &str) -> String {
        match self {
            CancelReason::Requested(_) => "The operation was canceled.".to_owned(),
            CancelReason::JobTimeout { minutes } => format!(
                "The job running on runner {runner_name} has exceeded the maximum execution time of {} minutes.",
                crate::step::format_minutes(*minutes)
            ),
        }
    }
}

/// Set once; the first reason wins.
#[derive(Debug, Clone)]
pub struct Canceller(Arc<watch::Sender<Option<CancelReason>>>);

impl Canceller {
    pub fn cancel(&self, reason: CancelReason) {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }
}

pub fn cancellation() -> (Canceller, watch::Receiver<Option<CancelReason>>) {
    let (tx, rx) = watch::channel(None);
    (Canceller(Arc::new(tx)), rx)
}

/// A piece of a checkout's tar stream, decoded.
pub enum WorkspaceMessage {
    Chunk {
        index: u32,
        data: Vec<u8>,
    },
    End {
        index: u32,
        error: Option<String>,
    },
    /// A chunk that was not valid base64: the checkout fails with this.
    Corrupt {
        index: u32,
    },
}

impl std::fmt::Debug for WorkspaceMessage {
    // A chunk's bytes are noise in a trace; its size says enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkspaceMessage::Chunk { index, data } => write!(f, "Chunk {{ index: {index}, bytes: {} }}", data.len()),
            WorkspaceMessage::End { index, error } => write!(f, "End {{ index: {index}, error: {error:?} }}"),
            WorkspaceMessage::Corrupt { index } => write!(f, "Corrupt {{ index: {index} }}"),
        }
    }
}

/// Reads `control` until it closes, cancelling through `canceller` and forwarding workspace
/// messages. A closed control channel is not a cancel: the job runs on.
pub fn dispatch(
    mut control: ControlReceiver,
    canceller: Canceller,
) -> (mpsc::Receiver<WorkspaceMessage>, JoinHandle<()>) {
    let (workspace_tx, workspace_rx) = mpsc::channel(16);
    let task = tokio::spawn(async move {
        while let Some(message) = control.recv().await {
            let forward = match message {
                ControlMessage::Cancel { reason } => {
                    tracing::info!(%reason, "cancel requested");
                    canceller.cancel(CancelReason::Requested(reason));
                    continue;
                }
                ControlMessage::WorkspaceChunk { index, data } => {
                    match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
                        Ok(data) => WorkspaceMessage::Chunk { index, data },
                        Err(_) => WorkspaceMessage::Corrupt { index },
                    }
                }
                ControlMessage::WorkspaceEnd { index, error } => WorkspaceMessage::End { index, error },
                ControlMessage::Unknown => {
                    tracing::warn!("ignoring a control message of a type this engine does not know");
                    continue;
                }
                ControlMessage::Start { .. } => {
                    tracing::warn!("ignoring a second start message while a job runs");
                    continue;
                }
            };
            if workspace_tx.send(forward).await.is_err() {
                return;
            }
        }
        tracing::debug!("the control channel closed");
    });
    (workspace_rx, task)
}
