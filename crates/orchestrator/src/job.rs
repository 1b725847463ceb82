//! One job attempt from the orchestrator's side: start the agent, relay and sequence its events,
//! answer checkouts, forward cancels, beat the heart, and make sure exactly one `job_finished`
//! goes out whatever the agent does.

use std::time::Duration;

use bus::Bus;
use contract::{ControlMessage, Event, JobRequest, JobResult};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::checkout::stream_checkout;
use crate::durable;
use crate::executor::{AgentOutput, Executor, JobHandle, JobStart};
use crate::orchestrator::Inner;
use crate::registry::Admission;
use crate::sequencer::Sequencer;

/// Longest stdout line quoted in an error text.
const QUOTE_LIMIT: usize = 200;

pub(crate) async fn run<B: Bus, E: Executor>(inner: &Inner<B, E>, request: JobRequest) -> JobResult {
    let (job_id, attempt) = (request.job_id, request.attempt);
    let store = inner.durable.as_ref().map(|durable| durable.store.clone());
    let mut seq = Sequencer::new(inner.bus.clone(), store, request.origin.runner_id.clone(), job_id, attempt)
        .with_clock(crate::metrics::JobClock::accepted(&inner.config.metrics, job_id));
    seq.emit(Event::Accepted { orchestrator: inner.config.id.clone() }).await;

    let admission = inner.registry().admit(job_id, attempt);
    let result = match admission {
        Admission::Run(cancels) => drive(inner, request, &mut seq, cancels).await,
        Admission::Cancelled(reason) => {
            finish(&mut seq, JobResult::Cancelled, format!("cancelled before it started: {reason}")).await
        }
        Admission::AlreadyStarted => {
            let text = format!(
                "attempt {attempt} of this job already started on orchestrator {} and cannot be resumed; re-run the job",
                inner.config.id
            );
            return finish(&mut seq, JobResult::Failure, text).await;
        }
    };
    inner.registry().release(job_id);
    if let Some((result, error)) = seq.outcome() {
        durable::record_finish(inner, job_id, attempt, *result, error.as_deref()).await;
    }
    result
}

/// The orchestrator ends the job itself. The store learns of it when [`run`] returns.
async fn finish<B: Bus>(seq: &mut Sequencer<B>, result: JobResult, error: String) -> JobResult {
    tracing::warn!(result = result.as_str(), %error, "job finished by the orchestrator");
    seq.emit(Event::JobFinished { result, outputs: Default::default(), error: Some(error) }).await;
    result
}

/// The job's time limit: its `timeout-minutes` when that is a literal number, else the default.
fn job_time(request: &JobRequest, default: Duration) -> Duration {
    let literal = request.timeout_minutes.as_ref().and_then(|t| t.as_literal()).and_then(|v| v.as_f64());
    match literal {
        Some(minutes) if minutes.is_finite() && minutes > 0.0 => Duration::from_secs_f64(minutes * 60.0),
        _ => default,
    }
}

/// What the job loop learned.
#[derive(Default)]
struct Watch {
    result: Option<JobResult>,
    /// Why the orchestrator had to end the agent.
    problem: Option<String>,
    cancel_reason: Option<String>,
    /// When the agent gets killed if it has not exited.
    deadline: Option<Instant>,
    killed: bool,
    exit: Option<(String, Vec<String>)>,
}

async fn drive<B: Bus, E: Executor>(
    inner: &Inner<B, E>,
    request: JobRequest,
    seq: &mut Sequencer<B>,
    mut cancels: mpsc::UnboundedReceiver<String>,
) -> JobResult {
    let config = &inner.config;
    let limit = job_time(&request, config.default_job_time);
    let mut time_limit = Some(Instant::now() + limit + config.job_time_grace);
    let start = JobStart { request, bus_key: config.bus_key.to_base64() };
    let mut handle = match inner.executor.start(start).await {
        Ok(handle) => handle,
        Err(error) => return finish(seq, JobResult::Failure, format!("failed to {}", chain(&error))).await,
    };

    let mut watch = Watch::default();
    let mut heartbeat = tokio::time::interval_at(Instant::now() + config.heartbeat_every, config.heartbeat_every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = watch.deadline.filter(|_| !watch.killed);
        tokio::select! {
            output = handle.next() => match output {
                Some(AgentOutput::Exited { status, stderr_tail, .. }) => {
                    watch.exit = Some((status, stderr_tail));
                    break;
                }
                Some(output) => on_output(inner, output, seq, &mut handle, &mut watch).await,
                None => break,
            },
            _ = heartbeat.tick(), if !seq.finished() => seq.emit(Event::Heartbeat).await,
            Some(reason) = cancels.recv(), if watch.cancel_reason.is_none() && !seq.finished() => {
                tracing::info!(%reason, "cancelling the job");
                let control = handle.control();
                let message = ControlMessage::Cancel { reason: reason.clone() };
                // Spawned: a full control channel must not stall the events.
                tokio::spawn(async move { control.send(message).await });
                watch.cancel_reason = Some(reason);
                watch.deadline.get_or_insert(Instant::now() + config.cancel_grace);
            }
            _ = sleep_until(time_limit), if !seq.finished() => {
                time_limit = None;
                tracing::warn!(limit_secs = limit.as_secs(), "the job ran past its time limit; killing the agent");
                watch.problem.get_or_insert(format!(
                    "the job exceeded its time limit of {} and the agent did not end it",
                    minutes(limit)
                ));
                watch.killed = true;
                handle.kill();
            }
            _ = sleep_until(deadline) => {
                watch.killed = true;
                handle.kill();
                if !seq.finished() {
                    let grace = config.cancel_grace.as_secs();
                    watch.problem.get_or_insert(format!("the agent did not finish within {grace} s of the cancel"));
                }
            }
        }
    }

    if let Some(result) = watch.result {
        return result;
    }
    let mut text = watch.problem.take().unwrap_or_else(|| match &watch.exit {
        Some((status, _)) => format!("the agent exited ({status}) before the job finished"),
        None => "the executor lost the agent before the job finished".to_owned(),
    });
    if let Some((_, tail)) = &watch.exit
        && !tail.is_empty()
    {
        text.push_str("\nlast lines of the agent's stderr:");
        for line in tail {
            text.push_str("\n  ");
            text.push_str(line);
        }
    }
    let result = if watch.cancel_reason.is_some() { JobResult::Cancelled } else { JobResult::Failure };
    finish(seq, result, text).await
}

async fn on_output<B: Bus, E: Executor>(
    inner: &Inner<B, E>,
    output: AgentOutput,
    seq: &mut Sequencer<B>,
    handle: &mut JobHandle,
    watch: &mut Watch,
) {
    match output {
        AgentOutput::Event(agent_event) => match agent_event.event {
            Event::CheckoutRequested { index, request } => {
                tracing::info!(index, path = %request.path, "checkout requested");
                let source = inner.config.workspace.clone();
                tokio::spawn(stream_checkout(source, index, request, handle.control()));
            }
            Event::Unknown => tracing::debug!("unknown agent event skipped"),
            event => {
                if let Event::JobFinished { result, .. } = &event
                    && !seq.finished()
                {
                    watch.result = Some(*result);
                    watch.deadline = Some(Instant::now() + inner.config.finish_grace);
                }
                seq.emit_at(agent_event.at, event).await;
            }
        },
        AgentOutput::Invalid { line, error } => {
            tracing::warn!(%error, %line, "the agent printed a line that is not an event");
            if !seq.finished() && watch.problem.is_none() {
                watch.problem =
                    Some(format!("the agent printed a line that is not an event ({error}): {}", quote(&line)));
                handle.kill();
                watch.killed = true;
            }
        }
        AgentOutput::Exited { .. } => {}
    }
}

fn minutes(limit: Duration) -> String {
    let secs = limit.as_secs_f64();
    if secs < 60.0 { format!("{secs:.1} s") } else { format!("{:.0} min", secs / 60.0) }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn quote(line: &str) -> String {
    match line.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// An error and its sources as one line: "a: b: c".
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
