//! Runs the combinations of one job through the bus and the orchestrator, prints their events,
//! and applies `fail-fast`, `max-parallel` and Ctrl-C.

use std::collections::{HashMap, VecDeque};
use std::io::Write;

use bus::{Bus, BusError, Consumer};
use contract::{CancelRequest, Event, JobRequest, JobResult};
use orchestrator::{Executor, Orchestrator};
use tokio::sync::mpsc;
use ulid::Ulid;

use crate::printer::Printer;
use crate::results::{Combination, continue_on_error};

/// Why jobs are cancelled after Ctrl-C.
const INTERRUPTED: &str = "the run was interrupted";

/// The parts of a run every stage uses.
pub(crate) struct Runner<B: Bus, E: Executor, W: Write> {
    pub bus: B,
    pub orchestrator: Orchestrator<B, E>,
    pub events: B::EventConsumer,
    pub printer: Printer<W>,
    /// One message per Ctrl-C.
    pub interrupts: mpsc::UnboundedReceiver<()>,
    /// Ctrl-C was pressed once: running jobs are cancelled and no new job starts.
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("write the job log to stdout")]
    Stdout(#[source] std::io::Error),
    /// Ctrl-C a second time: stop waiting for `always()` steps.
    #[error("interrupted twice; not waiting for the jobs to finish")]
    Aborted,
}

/// How one job's combinations are scheduled.
struct Strategy {
    fail_fast: bool,
    parallel: u32,
}

impl Strategy {
    /// From the `strategy` context `workflow` computed. `max-parallel` is honoured when it is
    /// below the number of combinations; otherwise the local run takes one combination at a
    /// time, so that logs and fail-fast are deterministic (GitHub's default would be all at once).
    fn of(requests: &[JobRequest]) -> Self {
        let strategy = requests.first().map(|r| &r.contexts.strategy);
        let number = |key: &str| strategy.and_then(|s| s.get(key)).and_then(serde_json::Value::as_u64);
        let fail_fast = strategy.and_then(|s| s.get("fail-fast")).and_then(serde_json::Value::as_bool).unwrap_or(true);
        let total = number("job-total").unwrap_or(requests.len() as u64);
        let parallel = match number("max-parallel") {
            Some(max) if max >= 1 && max < total => max,
            _ => 1,
        };
        Strategy { fail_fast, parallel: u32::try_from(parallel).unwrap_or(u32::MAX) }
    }
}

impl<B: Bus, E: Executor, W: Write> Runner<B, E, W> {
    /// Runs `requests` (the combinations of one job) to their end, at most `parallel` at a time.
    /// Returns them finished, in request order. A combination is published only when a slot is
    /// free, so after a fail-fast or Ctrl-C the ones not yet published finish as cancelled
    /// without ever starting, and the running ones get a cancel.
    pub async fn run_stage(&mut self, requests: Vec<JobRequest>) -> Result<Vec<Combination>, StageError> {
        let strategy = Strategy::of(&requests);
        let mut labels: Vec<String> = requests.iter().map(|r| r.route_label.clone()).collect();
        labels.sort();
        labels.dedup();
        let serving = self.orchestrator.serve(&labels, strategy.parallel).await?;

        let excused: Vec<bool> = requests.iter().map(continue_on_error).collect();
        let mut finished: Vec<Option<Combination>> = vec![None; requests.len()];
        let mut waiting: VecDeque<usize> = (0..requests.len()).collect();
        let mut open: HashMap<Ulid, usize> = HashMap::new();
        let mut stopped: Option<String> = self.interrupted.then(|| INTERRUPTED.to_owned());
        loop {
            while stopped.is_none() && open.len() < strategy.parallel as usize {
                let Some(index) = waiting.pop_front() else { break };
                let request = &requests[index];
                self.printer.add_job(request.job_id, &request.name);
                self.bus.publish_job(request).await?;
                open.insert(request.job_id, index);
            }
            if let Some(reason) = &stopped {
                for index in waiting.drain(..) {
                    let name = &requests[index].name;
                    self.printer.job_line(name, "job cancelled").map_err(StageError::Stdout)?;
                    let error = format!("error: cancelled before it started: {reason}");
                    self.printer.job_line(name, &error).map_err(StageError::Stdout)?;
                    finished[index] = Some(Combination::cancelled(excused[index]));
                }
            }
            if open.is_empty() {
                break;
            }
            tokio::select! {
                delivery = self.events.next() => {
                    let delivery = delivery?;
                    self.printer.print(&delivery.payload).map_err(StageError::Stdout)?;
                    let event = delivery.payload;
                    delivery.acker.ack().await?;
                    let Event::JobFinished { result, outputs, .. } = event.event else { continue };
                    let Some(index) = open.remove(&event.job_id) else { continue };
                    finished[index] = Some(Combination { result, outputs, continue_on_error: excused[index] });
                    if result == JobResult::Failure && strategy.fail_fast && !excused[index] && stopped.is_none() {
                        let reason = format!("fail-fast: {} failed", requests[index].name);
                        self.cancel(&requests, &open, &reason).await?;
                        stopped = Some(reason);
                    }
                }
                Some(()) = self.interrupts.recv() => {
                    if self.interrupted {
                        return Err(StageError::Aborted);
                    }
                    self.interrupted = true;
                    tracing::warn!("interrupted: cancelling the running jobs (Ctrl-C again to stop waiting)");
                    self.cancel(&requests, &open, INTERRUPTED).await?;
                    stopped = Some(INTERRUPTED.to_owned());
                }
            }
        }
        serving.stop().await;
        Ok(finished.into_iter().flatten().collect())
    }

    /// Cancels every combination still open: queued ones finish without starting, running ones
    /// get a cancel (their `always()` steps still run).
    async fn cancel(&self, requests: &[JobRequest], open: &HashMap<Ulid, usize>, reason: &str) -> Result<(), BusError> {
        for request in requests.iter().filter(|r| open.contains_key(&r.job_id)) {
            let cancel =
                CancelRequest { job_id: request.job_id, attempt: Some(request.attempt), reason: reason.to_owned() };
            self.bus.publish_cancel(&cancel).await?;
        }
        Ok(())
    }
}
