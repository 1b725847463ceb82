//! The async half of reporting: one task that owns a [`Ledger`], takes events from a channel,
//! saves, and flushes rows and state to a [`TaskSink`] on its own clock.

use std::time::Duration;

use contract::{Event, JobEvent};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

use super::{Checkpoint, Ledger, Mark, SinkError, TaskResult, TaskSink};

/// The most events taken between two saves (and two looks at the flush timer).
const EVENTS_PER_SAVE: usize = 256;

/// How the reporter paces itself. The defaults keep a guest line inside its step's range on the
/// forge well under 300 ms, and the runner looking alive to Forgejo (which calls a runner idle
/// after 10 s without an update and fails a task after 10 min).
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// How long new rows wait for company before they are sent.
    pub flush_delay: Duration,
    /// The longest gap between two UpdateTask calls while the job runs.
    pub heartbeat: Duration,
    /// No event (heartbeats included) from the orchestrator for this long fails the task.
    pub silence_timeout: Duration,
    /// After the server asked for a cancel, how long the job may take to end before we report
    /// it cancelled ourselves.
    pub cancel_grace: Duration,
    /// The first wait after a failed call; it doubles up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Calls failing for this long end the report with an error.
    pub give_up_after: Duration,
    /// Bytes of row content per UpdateLog; reverse proxies often refuse bodies over 1 MiB.
    pub max_batch_bytes: usize,
    /// How many UpdateTask calls may try to deliver outputs before the final one.
    pub output_attempts: u32,
    /// While the unacknowledged rows stay under this size, the state is saved after every batch
    /// of events; above it (the forge is away and rows pile up) at most once per `save_interval`,
    /// so saving does not grow with the square of the backlog. Events are acked only once saved
    /// either way.
    pub save_eager_bytes: usize,
    pub save_interval: Duration,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            flush_delay: Duration::from_millis(100),
            heartbeat: Duration::from_secs(2),
            silence_timeout: Duration::from_secs(60),
            cancel_grace: Duration::from_secs(120),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            give_up_after: Duration::from_secs(15 * 60),
            max_batch_bytes: 512 * 1024,
            output_attempts: 5,
            save_eager_bytes: 1024 * 1024,
            save_interval: Duration::from_secs(1),
        }
    }
}

/// How a report ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEnd {
    /// The final state was acknowledged: `result` is ours, `server_result` what the server
    /// answered (they differ when the task was cancelled or failed there first). The caller
    /// may now remove the saved state.
    Finished { result: TaskResult, server_result: TaskResult },
    /// The event channel closed before the job ended (the runner is shutting down). The state
    /// is saved; a new [`Reporter`] on it resumes the report.
    Detached,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report the task: the forge no longer accepts this runner")]
    Unauthenticated(#[source] SinkError),
    #[error("report the task: the forge failed every call for {after:?}")]
    GaveUp {
        after: Duration,
        #[source]
        source: SinkError,
    },
}

/// Reports one task. Build it on a new or restored [`Ledger`], take the receivers you need, then
/// [`Reporter::run`] it.
#[derive(Debug)]
pub struct Reporter {
    ledger: Ledger,
    config: ReportConfig,
    cancel: watch::Sender<Option<TaskResult>>,
    saved: watch::Sender<Option<Mark>>,
    server_result: TaskResult,
}

impl Reporter {
    pub fn new(ledger: Ledger, config: ReportConfig) -> Reporter {
        let saved = watch::Sender::new(ledger.mark());
        Reporter { ledger, config, cancel: watch::Sender::new(None), saved, server_result: TaskResult::Unspecified }
    }

    /// Becomes `Some(result)` when the server answered that the task is final there (a user
    /// cancelled it, or zombie cleanup failed it) while the job still runs: the caller cancels
    /// the job on the bus. The report goes on until the job's end is reported.
    pub fn cancel_requested(&self) -> watch::Receiver<Option<TaskResult>> {
        self.cancel.subscribe()
    }

    /// The last event held by a saved ledger: the consumer acks every delivery of the job at or
    /// below it, and only those.
    pub fn saved_mark(&self) -> watch::Receiver<Option<Mark>> {
        self.saved.subscribe()
    }

    /// Takes `events` until the job ended, reporting as it goes, then reports the end: the last
    /// rows with `no_more`, acknowledged before the final state.
    pub async fn run<S, C>(
        mut self,
        sink: &S,
        mut events: mpsc::Receiver<JobEvent>,
        checkpoint: &mut C,
    ) -> Result<ReportEnd, ReportError>
    where
        S: TaskSink + ?Sized,
        C: Checkpoint + ?Sized,
    {
        if !self.ledger.is_finished() && !self.follow(sink, &mut events, checkpoint).await? {
            return Ok(ReportEnd::Detached);
        }
        if !self.ledger.is_reported() {
            self.close(sink, checkpoint).await?;
        }
        Ok(ReportEnd::Finished { result: self.ledger.result(), server_result: self.server_result })
    }

    /// Follows the running job. Returns `true` when it ended, `false` when the events stopped.
    async fn follow<S, C>(
        &mut self,
        sink: &S,
        events: &mut mpsc::Receiver<JobEvent>,
        checkpoint: &mut C,
    ) -> Result<bool, ReportError>
    where
        S: TaskSink + ?Sized,
        C: Checkpoint + ?Sized,
    {
        let config = self.config.clone();
        // Report at once: the server learns the task is in hand, a restarted runner looks alive.
        let mut next_flush = Instant::now();
        // Silence counts only once the job has been heard of: before its first event it waits
        // in the queue for a free slot, and nothing sends heartbeats for it.
        let mut silence_at = self.ledger.mark().map(|_| Instant::now() + config.silence_timeout);
        let mut cancel_at: Option<Instant> = None;
        let mut save_at: Option<Instant> = None;
        let mut retry = Retry::default();
        while !self.ledger.is_finished() {
            tokio::select! {
                // Flushes come first so a steady stream of events cannot starve them.
                biased;
                () = sleep_until(next_flush) => {
                    let acked_before = self.ledger.unacked().0;
                    match self.flush(sink).await {
                        Ok(()) => {
                            retry = Retry::default();
                            next_flush = Instant::now() + config.heartbeat;
                            if self.ledger.unacked().0 != acked_before {
                                // Keeps the saved state small: acknowledged rows leave it.
                                self.save(checkpoint).await;
                                save_at = None;
                            }
                        }
                        Err(error) => next_flush = Instant::now() + retry.failed(error, &config)?,
                    }
                    if cancel_at.is_none() && self.server_result.is_final() {
                        cancel_at = Some(Instant::now() + config.cancel_grace);
                    }
                }
                received = events.recv() => {
                    let Some(first) = received else {
                        // Best effort: the state is saved either way and a later run resends.
                        if let Err(error) = self.flush(sink).await {
                            tracing::debug!(task_id = self.ledger.task_id(), %error, "last flush before detaching failed");
                        }
                        self.save(checkpoint).await;
                        return Ok(false);
                    };
                    let mut news = self.take(&first);
                    // What is already queued goes into the same save, up to a bound so a
                    // firehose of events cannot hold the flush back.
                    for _ in 1..EVENTS_PER_SAVE {
                        if self.ledger.is_finished() {
                            break;
                        }
                        let Ok(event) = events.try_recv() else { break };
                        news |= self.take(&event);
                    }
                    if self.ledger.mark().is_some() {
                        silence_at = Some(Instant::now() + config.silence_timeout);
                    }
                    if self.ledger.unacked_bytes() <= config.save_eager_bytes {
                        self.save(checkpoint).await;
                        save_at = None;
                    } else if save_at.is_none() {
                        save_at = Some(Instant::now() + config.save_interval);
                    }
                    if news && retry.since.is_none() {
                        next_flush = next_flush.min(Instant::now() + config.flush_delay);
                    }
                }
                () = sleep_until(save_at.unwrap_or(next_flush)), if save_at.is_some() => {
                    self.save(checkpoint).await;
                    save_at = None;
                }
                () = sleep_until(silence_at.unwrap_or(next_flush)), if silence_at.is_some() => {
                    let seconds = config.silence_timeout.as_secs();
                    let text = format!(
                        "Nothing was heard about this job for {seconds} s: the orchestrator's heartbeats stopped, or this runner lost its link to the broker; the job is failed."
                    );
                    self.ledger.fail(time::OffsetDateTime::now_utc(), &text, TaskResult::Failure);
                    self.save(checkpoint).await;
                }
                () = sleep_until(cancel_at.unwrap_or(next_flush)), if cancel_at.is_some() => {
                    let seconds = config.cancel_grace.as_secs();
                    let text = format!("The job did not end within {seconds} s of the cancel; it is reported cancelled.");
                    self.ledger.fail(time::OffsetDateTime::now_utc(), &text, TaskResult::Cancelled);
                    self.save(checkpoint).await;
                }
            }
        }
        Ok(true)
    }

    /// Applies one event; `true` when it gave the forge something new to see.
    fn take(&mut self, event: &JobEvent) -> bool {
        match self.ledger.apply(event) {
            super::Applied::Taken | super::Applied::Gap { .. } => {
                !matches!(event.event, Event::Heartbeat | Event::Unknown | Event::CheckoutRequested { .. })
            }
            super::Applied::Duplicate | super::Applied::Stale | super::Applied::OtherJob => false,
        }
    }

    /// Reports the end, retrying until it is acknowledged or the forge is gone for too long.
    async fn close<S, C>(&mut self, sink: &S, checkpoint: &mut C) -> Result<(), ReportError>
    where
        S: TaskSink + ?Sized,
        C: Checkpoint + ?Sized,
    {
        let mut retry = Retry::default();
        loop {
            match self.close_once(sink).await {
                Ok(()) => {
                    self.ledger.reported();
                    self.save(checkpoint).await;
                    return Ok(());
                }
                Err(error) => {
                    let wait = retry.failed(error, &self.config)?;
                    self.save(checkpoint).await;
                    sleep(wait).await;
                }
            }
        }
    }

    /// The final order (forgejo.md §6): every row, the last batch with `no_more`; outputs while
    /// the task is still open on the server; then the final state.
    async fn close_once<S: TaskSink + ?Sized>(&mut self, sink: &S) -> Result<(), SinkError> {
        self.send_rows(sink, true).await?;
        let mut tries = 0;
        while !self.ledger.unsent_outputs().is_empty()
            && !self.server_result.is_final()
            && tries < self.config.output_attempts
        {
            tries += 1;
            let answer = sink.update_task(&self.ledger.running_state(), &self.ledger.unsent_outputs()).await?;
            self.take_answer(&answer);
        }
        let unsent = self.ledger.unsent_outputs();
        let answer = sink.update_task(&self.ledger.state(), &unsent).await?;
        self.take_answer(&answer);
        let still = self.ledger.unsent_outputs();
        if !still.is_empty() {
            let keys: Vec<&String> = still.keys().collect();
            tracing::warn!(task_id = self.ledger.task_id(), ?keys, "the forge did not take these outputs");
        }
        Ok(())
    }

    /// One UpdateLog round (all unacked rows) and one UpdateTask.
    async fn flush<S: TaskSink + ?Sized>(&mut self, sink: &S) -> Result<(), SinkError> {
        self.send_rows(sink, false).await?;
        let answer = sink.update_task(&self.ledger.state(), &self.ledger.unsent_outputs()).await?;
        self.take_answer(&answer);
        Ok(())
    }

    /// Sends every unacknowledged row in bounded batches; with `last`, the final batch carries
    /// `no_more`.
    async fn send_rows<S: TaskSink + ?Sized>(&mut self, sink: &S, last: bool) -> Result<(), SinkError> {
        let task_id = self.ledger.task_id();
        let mut stalls = 0;
        loop {
            let (index, rows) = self.ledger.unacked();
            if rows.is_empty() {
                return Ok(());
            }
            let count = batch_len(rows, self.config.max_batch_bytes);
            let no_more = last && count == rows.len();
            match sink.update_log(task_id, index, &rows[..count], no_more).await {
                Ok(ack_index) => {
                    if !self.ledger.acknowledge(ack_index, time::OffsetDateTime::now_utc()) {
                        stalls += 1;
                        if stalls >= 3 {
                            return Err(SinkError::Transient(format!("the forge keeps its log at {ack_index} rows")));
                        }
                    }
                }
                Err(SinkError::LogArchived) => {
                    self.ledger.archive_log();
                    return Ok(());
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn take_answer(&mut self, answer: &super::TaskAnswer) {
        self.ledger.outputs_sent(&answer.sent_outputs);
        if answer.result.is_final() && !self.server_result.is_final() {
            self.server_result = answer.result;
            if !self.ledger.is_finished() {
                tracing::info!(task_id = self.ledger.task_id(), result = ?answer.result, "the forge ended the task; cancelling the job");
                self.cancel.send_replace(Some(answer.result));
            }
        }
    }

    /// Saves the ledger and, once saved, moves the mark the consumer acks by. A failed save
    /// leaves the mark behind, so the events stay unacked and come back after a restart.
    async fn save<C: Checkpoint + ?Sized>(&mut self, checkpoint: &mut C) {
        match checkpoint.save(&self.ledger).await {
            Ok(()) => {
                self.saved.send_replace(self.ledger.mark());
            }
            Err(error) => {
                tracing::warn!(task_id = self.ledger.task_id(), error = %error_chain(&error), "could not save the report state");
            }
        }
    }
}

/// Backoff over a streak of failed calls.
#[derive(Debug, Default)]
struct Retry {
    since: Option<Instant>,
    backoff: Duration,
}

impl Retry {
    /// How long to wait after `error`, or the error that ends the report.
    fn failed(&mut self, error: SinkError, config: &ReportConfig) -> Result<Duration, ReportError> {
        if let SinkError::Unauthenticated(_) = error {
            return Err(ReportError::Unauthenticated(error));
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if now - since >= config.give_up_after {
            return Err(ReportError::GaveUp { after: now - since, source: error });
        }
        let wait = self.backoff.max(config.backoff_initial);
        self.backoff = (wait * 2).min(config.backoff_max);
        tracing::warn!(%error, retry_in = ?wait, "reporting to the forge failed");
        telemetry::runner::forge_error("forgejo", "report");
        Ok(wait)
    }
}

/// How many of `rows` fit in one UpdateLog of at most `max_bytes` of content (always one).
fn batch_len(rows: &[super::Row], max_bytes: usize) -> usize {
    let mut bytes = 0;
    let mut count = 0;
    for row in rows {
        // Each row also costs its timestamp and framing on the wire.
        bytes += row.content.len() + 32;
        if count > 0 && bytes > max_bytes {
            break;
        }
        count += 1;
    }
    count
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
