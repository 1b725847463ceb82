//! Brief §3.3 over an SSH exec channel: the agent's stdin gets `Start` and then the control
//! messages, its stdout lines become [`AgentOutput`]s, its stderr goes to our tracing (and its
//! tail into the exit report).

use std::collections::VecDeque;

use contract::{AgentEvent, ControlMessage};
use orchestrator::AgentOutput;
use russh::client::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

/// How the agent's run ended.
#[derive(Debug)]
pub(crate) struct RelayEnd {
    pub status: String,
    pub success: bool,
    pub stderr_tail: Vec<String>,
}

/// What the relay listens to besides the channel.
pub(crate) struct RelayInput<'a> {
    /// Written first: `ControlMessage::Start`, then control messages queued during boot.
    pub first: Vec<ControlMessage>,
    pub control: mpsc::Receiver<ControlMessage>,
    pub outputs: &'a mpsc::Sender<AgentOutput>,
    pub kill: &'a mut Option<oneshot::Receiver<()>>,
    /// When the executor gives up on an agent that never ends.
    pub deadline: Instant,
    pub stderr_keep: usize,
}

/// Runs the agent's channel to its end (or until killed or past the deadline).
pub(crate) async fn relay(channel: Channel<Msg>, input: RelayInput<'_>) -> RelayEnd {
    let (mut read, write) = channel.split();
    let feeder = tokio::spawn(feed(write, input.first, input.control).in_current_span());
    let mut stdout = Vec::new();
    let mut stderr = Tail::new(input.stderr_keep);
    let mut exit: Option<(String, bool)> = None;
    let mut listening = true;
    let ended_by_us = loop {
        tokio::select! {
            message = read.wait() => match message {
                Some(ChannelMsg::Data { data }) => {
                    stdout.extend_from_slice(&data);
                    while let Some(end) = stdout.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = stdout.drain(..=end).collect();
                        if listening && input.outputs.send(parse_line(&line)).await.is_err() {
                            // Nobody listens any more: the job is over for the orchestrator.
                            listening = false;
                        }
                    }
                    if !listening {
                        break Some("nobody reads the job's events any more".to_owned());
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => stderr.push(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    exit = Some((format!("exit code {exit_status}"), exit_status == 0));
                }
                Some(ChannelMsg::ExitSignal { signal_name, error_message, .. }) => {
                    let detail = if error_message.is_empty() { String::new() } else { format!(": {error_message}") };
                    exit = Some((format!("killed by signal {signal_name:?}{detail}"), false));
                }
                Some(ChannelMsg::Close) | None => break None,
                Some(_) => {}
            },
            _ = kill_requested(input.kill) => break Some("killed by the orchestrator".to_owned()),
            _ = tokio::time::sleep_until(input.deadline) => {
                tracing::warn!("the agent outlived the job's time limit; stopping the VM");
                break Some("stopped by the executor: the job ran past its time limit".to_owned());
            }
        }
    };
    feeder.abort();
    if !stdout.is_empty() && listening {
        let _ = input.outputs.send(parse_line(&stdout)).await;
    }
    let (status, success) = match (ended_by_us, exit) {
        (Some(why), _) => (why, false),
        (None, Some(exit)) => exit,
        (None, None) => {
            ("the SSH channel closed without an exit status (the VM or its network died)".to_owned(), false)
        }
    };
    RelayEnd { status, success, stderr_tail: stderr.finish() }
}

/// Writes the control messages as JSON lines; sends EOF once every control sender is gone.
async fn feed(write: ChannelWriteHalf<Msg>, first: Vec<ControlMessage>, mut control: mpsc::Receiver<ControlMessage>) {
    let mut first = first.into_iter();
    loop {
        let message = match first.next() {
            Some(message) => message,
            None => match control.recv().await {
                Some(message) => message,
                None => break,
            },
        };
        let mut line = match serde_json::to_vec(&message) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "a control message does not serialize; dropped");
                continue;
            }
        };
        line.push(b'\n');
        if let Err(error) = write.data(&line[..]).await {
            tracing::debug!(%error, "the agent's stdin is closed");
            return;
        }
    }
    let _ = write.eof().await;
}

/// Resolves once when the kill switch fires or its sender is dropped; pending after that.
pub(crate) async fn kill_requested(kill: &mut Option<oneshot::Receiver<()>>) {
    match kill {
        Some(receiver) => {
            let _ = receiver.await;
            *kill = None;
        }
        None => std::future::pending().await,
    }
}

pub(crate) fn parse_line(raw: &[u8]) -> AgentOutput {
    let text = String::from_utf8_lossy(raw);
    let line = text.trim_end_matches(['\n', '\r']);
    match serde_json::from_str::<AgentEvent>(line) {
        Ok(event) => AgentOutput::Event(event),
        Err(error) => AgentOutput::Invalid { line: line.to_owned(), error: error.to_string() },
    }
}

/// The agent's stderr: relayed line by line into our tracing, the last lines kept.
struct Tail {
    partial: Vec<u8>,
    lines: VecDeque<String>,
    keep: usize,
}

impl Tail {
    fn new(keep: usize) -> Tail {
        Tail { partial: Vec::new(), lines: VecDeque::new(), keep }
    }

    fn push(&mut self, data: &[u8]) {
        self.partial.extend_from_slice(data);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.partial.drain(..=end).collect();
            self.line(String::from_utf8_lossy(&raw).trim_end_matches(['\n', '\r']).to_owned());
        }
    }

    fn line(&mut self, line: String) {
        tracing::debug!(target: "agent", "{line}");
        if self.keep == 0 {
            return;
        }
        if self.lines.len() == self.keep {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn finish(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.line(rest);
        }
        self.lines.into()
    }
}
