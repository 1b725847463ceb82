//! The agentless path (brief §4): for an image with `agent = "none"` the orchestrator runs the
//! step engine itself, in the executor's task, with [`host::SshHost`] as its [`engine::Host`]:
//! every process and file operation of the job goes over the job's SSH session to the guest's
//! `sh`, as the image's user. The engine's [`contract::AgentEvent`]s become the same
//! [`AgentOutput`]s the agent's stdout lines would, and control messages (cancel, checkout
//! data) reach the engine as they would reach the agent's stdin. The job's secrets are opened
//! here, in the orchestrator's memory, because no agent exists to open them in the guest.

mod command;
mod hash;
mod host;
mod process;
mod quote;
mod unpack;

use std::collections::BTreeMap;

use contract::{AgentEvent, ControlMessage, Event, Outcome};
use engine::{EngineConfig, Host};
use orchestrator::AgentOutput;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::relay::kill_requested;
use crate::ssh::Session;

/// What the executor hands over once the guest answers SSH.
pub(crate) struct AgentlessInput<'a> {
    /// `ControlMessage::Start` with the request and the bus key.
    pub start: Option<ControlMessage>,
    /// Control messages that arrived while the VM booted.
    pub pending: Vec<ControlMessage>,
    pub control: Option<mpsc::Receiver<ControlMessage>>,
    pub outputs: &'a mpsc::Sender<AgentOutput>,
    pub kill: &'a mut Option<oneshot::Receiver<()>>,
    /// When the executor gives up on a job that never ends.
    pub deadline: Instant,
}

/// How the job ended, for `AgentOutput::Exited`.
pub(crate) struct AgentlessEnd {
    pub status: String,
    pub success: bool,
}

/// Runs the job's steps in the guest over `session` until `job_finished` (or a kill).
pub(crate) async fn run(session: &Session, input: AgentlessInput<'_>) -> AgentlessEnd {
    let AgentlessInput { start, pending, control, outputs, kill, deadline } = input;
    let Some(ControlMessage::Start { request, bus_key }) = start else {
        return AgentlessEnd { status: "no start message for the job".to_owned(), success: false };
    };
    let secrets = match request.open_secrets(&bus_key).map_err(|error| error.to_string()) {
        Ok(secrets) => secrets,
        Err(error) => {
            tracing::error!(%error, "cannot open the job's secrets");
            let event = Event::JobFinished { result: Outcome::Failure, outputs: BTreeMap::new(), error: Some(error) };
            let _ = outputs.send(AgentOutput::Event(AgentEvent { at: contract::now(), event })).await;
            return AgentlessEnd { status: "the job's secrets could not be opened".to_owned(), success: false };
        }
    };

    let (signals_tx, mut signals_rx) = mpsc::channel(8);
    let host = host::SshHost::new(session, signals_tx);
    // The agent works in `$HOME/work`; so does the engine here, so both paths show the same
    // workspace.
    let home = match host.base_env().await {
        Ok(env) => env.get("HOME").cloned().unwrap_or_else(|| "/tmp".to_owned()),
        Err(error) => {
            let text = format!("failed to read the guest's environment: {}", engine::error_chain(&error));
            let event = Event::JobFinished { result: Outcome::Failure, outputs: BTreeMap::new(), error: Some(text) };
            let _ = outputs.send(AgentOutput::Event(AgentEvent { at: contract::now(), event })).await;
            return AgentlessEnd { status: "the guest could not be inspected".to_owned(), success: false };
        }
    };
    let config = EngineConfig::new(format!("{}/work", home.trim_end_matches('/')));
    let control = engine_control(pending, control);
    let (events_tx, mut events_rx) = mpsc::channel::<AgentEvent>(256);

    let job = engine::run_job(*request, secrets, &host, &config, events_tx, control);
    tokio::pin!(job);
    let mut finished = false;
    let ended_by_us = loop {
        tokio::select! {
            // Events first: they are relayed in order before the job counts as over.
            biased;
            Some(event) = events_rx.recv() => {
                if outputs.send(AgentOutput::Event(event)).await.is_err() {
                    break Some("nobody reads the job's events any more".to_owned());
                }
            }
            Some(request) = signals_rx.recv() => {
                let result = process::signal_group(session, request.pgid, request.signal).await;
                let _ = request.reply.send(result);
            }
            report = &mut job, if !finished => {
                finished = true;
                tracing::info!(result = report.result.as_str(), "agentless job finished");
            }
            _ = kill_requested(kill) => break Some("killed by the orchestrator".to_owned()),
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!("the job outlived its time limit; stopping the VM");
                break Some("stopped by the executor: the job ran past its time limit".to_owned());
            }
            else => break None,
        }
        if finished && events_rx.is_empty() && events_rx.is_closed() {
            break None;
        }
    };
    match ended_by_us {
        Some(status) => AgentlessEnd { status, success: false },
        None => AgentlessEnd { status: "the step engine finished over SSH".to_owned(), success: true },
    }
}

/// The engine's control channel: what arrived during boot first, then the executor's channel.
fn engine_control(
    pending: Vec<ControlMessage>,
    control: Option<mpsc::Receiver<ControlMessage>>,
) -> mpsc::Receiver<ControlMessage> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        for message in pending {
            if tx.send(message).await.is_err() {
                return;
            }
        }
        let Some(mut control) = control else { return };
        while let Some(message) = control.recv().await {
            if tx.send(message).await.is_err() {
                return;
            }
        }
    });
    rx
}
