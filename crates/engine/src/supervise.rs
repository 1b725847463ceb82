//! Watching a step's process: its output lines, its exit, its timeout and the job's cancel.
//!
//! Stopping a step is GitHub's sequence: SIGINT to the process group, SIGTERM after
//! `interrupt_grace`, SIGKILL after `terminate_grace` more. Once the shell exited, output is
//! logged until it pauses for `output_drain` (at most ten such periods); after that the step ends
//! and their output is read and dropped (closing the pipe would kill a server a later step
//! needs with SIGPIPE). They are killed when the job ends, which closes the pipes.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::EngineConfig;
use crate::control::{CancelReason, WorkspaceMessage};
use crate::events::Emitter;
use crate::host::{ByteStream, Exit, HostError, Process, Signal};
use crate::lines::LineSplitter;
use crate::output::CommandProcessor;

/// After the shell exited, output is read while it keeps flowing, but at most this many
/// `output_drain` periods.
const DRAIN_CAP_FACTOR: u32 = 10;

/// The job state the supervision borrows.
pub(crate) struct Parts<'a> {
    pub emitter: &'a mut Emitter,
    pub commands: &'a mut CommandProcessor,
    pub cancel: &'a mut watch::Receiver<Option<CancelReason>>,
    pub workspace_rx: &'a mut mpsc::Receiver<WorkspaceMessage>,
    pub config: &'a EngineConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stopped {
    Timeout,
    Cancelled(CancelReason),
}

#[derive(Debug)]
pub(crate) struct Ended {
    pub exit: Option<Exit>,
    pub stopped: Option<Stopped>,
    pub wait_error: Option<HostError>,
}

/// Runs until the process exited and its output is read (or given up on).
pub(crate) async fn supervise(
    parts: Parts<'_>,
    process: &dyn Process,
    stdout: ByteStream,
    stderr: ByteStream,
    timeout: Option<Duration>,
    watch_cancel: bool,
) -> Ended {
    let Parts { emitter, commands, cancel, workspace_rx, config } = parts;
    let (line_tx, mut lines) = mpsc::channel::<String>(1024);
    // Detached: after the step they drain what background processes write, until the pipe closes.
    tokio::spawn(read_lines(stdout, line_tx.clone()));
    tokio::spawn(read_lines(stderr, line_tx));
    let mut wait = process.wait();

    let deadline = timeout.map(|t| Instant::now() + t);
    let mut watch_cancel = watch_cancel;
    let mut workspace_open = true;
    let mut lines_open = true;
    let mut exit: Option<Result<Exit, HostError>> = None;
    let mut stopped: Option<Stopped> = None;
    let mut escalation: Option<(Instant, Signal)> = None;
    let mut drain_until: Option<Instant> = None;
    let mut drain_cap: Option<Instant> = None;

    while exit.is_none() || lines_open {
        let flush_at = emitter.flush_deadline();
        // Biased, control first: a step that prints without pause must still be cancellable,
        // time out, and have its lines batched.
        tokio::select! {
            biased;
            changed = cancel.changed(), if watch_cancel && exit.is_none() && stopped.is_none() => {
                watch_cancel = false;
                let reason = cancel.borrow().clone();
                if let (Ok(()), Some(reason)) = (changed, reason) {
                    stopped = Some(Stopped::Cancelled(reason));
                    escalation = interrupt(process, config).await;
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() && exit.is_none() && stopped.is_none() => {
                stopped = Some(Stopped::Timeout);
                escalation = interrupt(process, config).await;
            }
            _ = sleep_until(escalation.map(|(at, _)| at)), if escalation.is_some() && exit.is_none() => {
                escalation = match escalation {
                    Some((_, Signal::Terminate)) => {
                        send(process, Signal::Terminate).await;
                        Some((Instant::now() + config.terminate_grace, Signal::Kill))
                    }
                    Some((_, _)) => {
                        send(process, Signal::Kill).await;
                        None
                    }
                    None => None,
                };
            }
            result = &mut wait, if exit.is_none() => {
                exit = Some(result);
                let now = Instant::now();
                drain_until = Some(now + config.output_drain);
                drain_cap = Some(now + config.output_drain * DRAIN_CAP_FACTOR);
            }
            _ = sleep_until(drain_until), if drain_until.is_some() && lines_open => {
                tracing::info!("background processes still hold the step's output open; no longer reading it");
                lines_open = false;
            }
            _ = sleep_until(flush_at), if flush_at.is_some() => emitter.flush().await,
            line = lines.recv(), if lines_open => match line {
                Some(line) => {
                    commands.line(emitter, &line).await;
                    // Output still flowing after the exit is the shell's last burst or a
                    // background process: read on while it flows, up to the cap.
                    if let (Some(until), Some(cap)) = (drain_until.as_mut(), drain_cap) {
                        *until = (Instant::now() + config.output_drain).min(cap);
                    }
                }
                None => lines_open = false,
            },
            message = workspace_rx.recv(), if workspace_open => match message {
                // A checkout's stream that arrives late or for no checkout: nobody wants it.
                Some(message) => tracing::warn!(?message, "ignoring workspace data outside a checkout"),
                None => workspace_open = false,
            },
        }
    }
    drop(wait);
    // Lines that were read before the step ended still belong to it.
    lines.close();
    while let Ok(line) = lines.try_recv() {
        commands.line(emitter, &line).await;
    }
    emitter.flush().await;

    let (exit, wait_error) = match exit {
        Some(Ok(exit)) => (Some(exit), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    Ended { exit, stopped, wait_error }
}

async fn interrupt(process: &dyn Process, config: &EngineConfig) -> Option<(Instant, Signal)> {
    send(process, Signal::Interrupt).await;
    Some((Instant::now() + config.interrupt_grace, Signal::Terminate))
}

async fn send(process: &dyn Process, signal: Signal) {
    tracing::info!(?signal, pid = process.id(), "signalling the step's process group");
    if let Err(e) = process.signal_group(signal).await {
        tracing::warn!(error = %crate::host::error_chain(&e), "could not signal the step's process group");
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reads a pipe to its end, sending each line; once the step ended, lines are dropped.
async fn read_lines(mut stream: ByteStream, tx: mpsc::Sender<String>) {
    let mut splitter = LineSplitter::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut step_ended = false;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) if step_ended => tracing::debug!(bytes = n, "dropping output written after the step ended"),
            Ok(n) => {
                for line in splitter.push(&buf[..n]) {
                    if tx.send(line).await.is_err() {
                        step_ended = true;
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading a step's output failed");
                break;
            }
        }
    }
    if let Some(line) = splitter.finish()
        && !step_ended
    {
        let _ = tx.send(line).await;
    }
}
