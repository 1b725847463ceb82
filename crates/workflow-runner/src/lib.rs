//! The agent's loop (brief §3.3): the first stdin line is `ControlMessage::Start`, later lines are
//! control messages for the running job; stdout carries `AgentEvent` JSON lines and nothing else.
//! `main.rs` only parses arguments, sets up tracing and maps the result to an exit code.

use std::collections::BTreeMap;

use contract::{AgentEvent, ControlMessage, Event, Outcome};
use engine::{EngineConfig, JobReport, LocalHost};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Why the agent could not run a job at all (exit code 2: bad input).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("read the start message: stdin closed before a start message arrived")]
    NoStart,
    #[error("read the start message")]
    BadStart(#[source] serde_json::Error),
    #[error("read the start message: the first message must be `start`, got another type")]
    NotStart,
    #[error("read stdin")]
    Stdin(#[source] std::io::Error),
}

/// Reads the start message from `input`, runs the job on this machine and writes its events to
/// `output`. Returns once `job_finished` is written, whatever the job's result.
pub async fn run<R, W>(config: EngineConfig, input: R, output: W) -> Result<JobReport, AgentError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut lines = BufReader::new(input).lines();
    let (request, bus_key) = loop {
        let line = lines.next_line().await.map_err(AgentError::Stdin)?.ok_or(AgentError::NoStart)?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ControlMessage>(&line).map_err(AgentError::BadStart)? {
            ControlMessage::Start { request, bus_key } => break (*request, bus_key),
            _ => return Err(AgentError::NotStart),
        }
    };

    let (events_tx, events_rx) = mpsc::channel::<AgentEvent>(256);
    let writer = tokio::spawn(write_events(events_rx, output));

    let report = match request.open_secrets(&bus_key).map_err(|error| error.to_string()) {
        Err(error) => {
            tracing::error!(job_id = %request.job_id, %error, "cannot open the job's secrets");
            let report = JobReport { result: Outcome::Failure, outputs: BTreeMap::new(), error: Some(error) };
            let event =
                Event::JobFinished { result: report.result, outputs: BTreeMap::new(), error: report.error.clone() };
            let _ = events_tx.send(AgentEvent { at: contract::now(), event }).await;
            drop(events_tx);
            report
        }
        Ok(secrets) => {
            let (control_tx, control_rx) = mpsc::channel::<ControlMessage>(64);
            let reader = tokio::spawn(read_control(lines, control_tx));
            let host = agent_host();
            let report = engine::run_job(request, secrets, &host, &config, events_tx, control_rx).await;
            reader.abort();
            report
        }
    };
    if let Ok(Err(error)) = writer.await {
        // stdout is gone: nobody can read the events any more, but the job has ended anyway.
        tracing::warn!(%error, "writing events to stdout failed");
    }
    Ok(report)
}

/// Steps start from the agent's environment without Solstice's own settings: whoever started the
/// agent may hold `SOLSTICE_BUS_KEY` or tokens there, and a step must never see them.
fn agent_host() -> LocalHost {
    let env = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| !name.starts_with("SOLSTICE_"));
    LocalHost::with_env(env).adopting_orphans()
}

/// Forwards control lines to the engine until stdin closes (which is not a cancel).
async fn read_control<R: AsyncBufReadExt + Unpin>(
    mut lines: tokio::io::Lines<R>,
    control: mpsc::Sender<ControlMessage>,
) {
    loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.trim().is_empty() => continue,
            Ok(Some(line)) => match serde_json::from_str::<ControlMessage>(&line) {
                Ok(message) => {
                    if control.send(message).await.is_err() {
                        return;
                    }
                }
                Err(error) => tracing::warn!(%error, "ignoring a control line that is not a control message"),
            },
            Ok(None) => {
                tracing::info!("stdin closed: no more control messages");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "reading stdin failed: no more control messages");
                return;
            }
        }
    }
}

/// One JSON line per event, flushed at once so the host sees progress live.
async fn write_events<W: AsyncWrite + Unpin>(
    mut events: mpsc::Receiver<AgentEvent>,
    mut output: W,
) -> std::io::Result<()> {
    while let Some(event) = events.recv().await {
        let mut line = serde_json::to_vec(&event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        output.write_all(&line).await?;
        output.flush().await?;
    }
    Ok(())
}
