//! The pure half of reporting: events in, rows and step states out, and what the server has
//! acknowledged. No IO and no clock of its own: every time comes from an event or the caller.

use std::collections::{BTreeMap, BTreeSet};

use contract::{Annotation, AnnotationLevel, Event, JobEvent, Section};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::row::{mask, rows};
use super::{Row, StepView, TaskResult, TaskStateView};

/// Bumped when the saved JSON changes in a way an older reader cannot take.
const STATE_VERSION: u32 = 1;

/// One task's report: the rows in the order Forgejo must hold them, the step states, the rows
/// and outputs not yet acknowledged, and the last event taken. Saved as JSON (see
/// [`Ledger::to_json`]) before the events it took are acked on the bus.
///
/// The layout rule it keeps (forgejo.md §4): setup rows, then each step's rows contiguously in
/// step order, then completion rows. The log is cut into regions that only move forward; a line
/// for a region already closed (a step's output arriving after a later step began, a setup line
/// after the steps began) is held back and written, labelled, after the steps, so no step's range
/// ever contains another's rows and no row is dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    version: u32,
    task_id: i64,
    /// The job whose events we take: the first one seen.
    job_id: Option<ulid::Ulid>,
    /// The job attempt whose events we take, and the last `seq` taken of it.
    attempt: Option<u32>,
    last_seq: u64,
    result: TaskResult,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    stopped_at: Option<OffsetDateTime>,
    steps: Vec<StepView>,
    /// Display names from the events, for labelling late lines.
    names: Vec<Option<String>>,
    region: Region,
    /// Where the completion region begins, once it is open.
    complete_index: Option<i64>,
    /// Rows the server holds: `pending[0]` has this absolute index.
    acked: i64,
    pending: Vec<Row>,
    /// Rows waiting for the completion region.
    held: Vec<Row>,
    outputs: BTreeMap<String, String>,
    sent_outputs: BTreeSet<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    vm_booting_at: Option<OffsetDateTime>,
    /// The server refused further rows (`already_exists`): rows are counted, not kept.
    log_archived: bool,
    /// The final UpdateTask was answered: nothing is left to send.
    final_reported: bool,
    /// Secret values to mask in the rows we write ourselves (event lines come masked). Never
    /// saved: the database holds no secret in clear.
    #[serde(skip)]
    secrets: Vec<String>,
}

/// Where new rows go. Ordered: the log only moves forward through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Region {
    Setup,
    Step(usize),
    Complete,
}

/// What [`Ledger::apply`] made of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The next event: taken.
    Taken,
    /// Events are missing before it (`expected` is the first missing `seq`); taken anyway, since
    /// what it says is still true.
    Gap { expected: u64 },
    /// Seen before (a redelivery): dropped.
    Duplicate,
    /// Of an earlier attempt than the one being reported: dropped.
    Stale,
    /// Of another job (a routing mistake): dropped.
    OtherJob,
}

/// How far the events taken reach: `(attempt, seq)` of the last one. A consumer acks every
/// delivery at or below the mark once a ledger holding it is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark {
    pub attempt: u32,
    pub seq: u64,
}

impl Ledger {
    /// A fresh report for Forgejo task `task_id` whose payload job has `step_count` steps.
    pub fn new(task_id: i64, step_count: usize) -> Ledger {
        Ledger {
            version: STATE_VERSION,
            task_id,
            job_id: None,
            attempt: None,
            last_seq: 0,
            result: TaskResult::Unspecified,
            started_at: None,
            stopped_at: None,
            steps: (0..step_count).map(|id| empty_step(id as i64)).collect(),
            names: vec![None; step_count],
            region: Region::Setup,
            complete_index: None,
            acked: 0,
            pending: Vec::new(),
            held: Vec::new(),
            outputs: BTreeMap::new(),
            sent_outputs: BTreeSet::new(),
            vm_booting_at: None,
            log_archived: false,
            final_reported: false,
            secrets: Vec::new(),
        }
    }

    /// The saved form, for [`store::Store::put_runner_task`].
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    /// A ledger saved by [`Ledger::to_json`]. Secrets are not saved; set them again with
    /// [`Ledger::set_secrets`] when they are known.
    pub fn from_json(value: serde_json::Value) -> Result<Ledger, serde_json::Error> {
        let ledger: Ledger = serde_json::from_value(value)?;
        if ledger.version != STATE_VERSION {
            return Err(serde::de::Error::custom(format_args!(
                "report state version {} is not {STATE_VERSION}",
                ledger.version
            )));
        }
        Ok(ledger)
    }

    /// Secret values to mask in the rows the runner writes itself (job error text, runner
    /// notes). Lines from the job come masked by the step engine.
    pub fn set_secrets(&mut self, secrets: Vec<String>) {
        self.secrets = secrets;
    }

    pub fn task_id(&self) -> i64 {
        self.task_id
    }

    /// The last event taken, if any.
    pub fn mark(&self) -> Option<Mark> {
        self.attempt.map(|attempt| Mark { attempt, seq: self.last_seq })
    }

    /// Whether the job has ended (its final rows and result are in the ledger).
    pub fn is_finished(&self) -> bool {
        self.result.is_final()
    }

    /// Whether the final state was acknowledged by the server.
    pub fn is_reported(&self) -> bool {
        self.final_reported
    }

    /// The job's result, [`TaskResult::Unspecified`] while it runs.
    pub fn result(&self) -> TaskResult {
        self.result
    }

    /// Rows written so far, acknowledged or not.
    pub fn row_count(&self) -> i64 {
        self.acked + self.pending.len() as i64
    }

    /// A line the runner writes itself into "Set up job" (e.g. which runner took the task).
    pub fn note_setup(&mut self, time: OffsetDateTime, text: &str) {
        let text = mask(text, &self.secrets);
        self.write_setup(rows(time, &text));
    }

    /// Takes one event of the job. Duplicates and events of older attempts change nothing.
    pub fn apply(&mut self, event: &JobEvent) -> Applied {
        if *self.job_id.get_or_insert(event.job_id) != event.job_id {
            tracing::warn!(task_id = self.task_id, job_id = %event.job_id, "event of another job dropped");
            return Applied::OtherJob;
        }
        let arrival = match self.attempt {
            Some(attempt) if event.attempt < attempt => return Applied::Stale,
            Some(attempt) if event.attempt == attempt && event.seq <= self.last_seq => return Applied::Duplicate,
            Some(attempt) if event.attempt == attempt => self.order(event.seq),
            Some(attempt) => {
                // The job was started again: its numbering starts over, and its lines simply
                // continue the log.
                tracing::warn!(task_id = self.task_id, from = attempt, to = event.attempt, "job attempt changed");
                self.attempt = Some(event.attempt);
                self.last_seq = 0;
                self.order(event.seq)
            }
            None => {
                self.attempt = Some(event.attempt);
                self.order(event.seq)
            }
        };
        if let Applied::Gap { expected } = arrival {
            tracing::warn!(task_id = self.task_id, expected, got = event.seq, "job events are missing");
        }
        self.last_seq = event.seq;
        if self.is_finished() {
            // The report is closed; a late event cannot add to it without breaking the final
            // ranges the server already has.
            return arrival;
        }
        self.take(event);
        arrival
    }

    /// Ends the job from the runner's side (orchestrator silent, cancel never completed, task
    /// never translated): `text` as completion rows, then the usual end.
    pub fn fail(&mut self, time: OffsetDateTime, text: &str, result: TaskResult) {
        if self.is_finished() {
            return;
        }
        let result = if result.is_final() { result } else { TaskResult::Failure };
        self.finish(time, result, BTreeMap::new(), Some(text));
    }

    /// The full state for UpdateTask; `stopped_at` and the final result only once finished.
    pub fn state(&self) -> TaskStateView {
        TaskStateView {
            id: self.task_id,
            result: self.result,
            started_at: self.started_at,
            stopped_at: self.stopped_at,
            steps: self.steps.clone(),
        }
    }

    /// The state with the task still running: for the UpdateTask that delivers outputs before
    /// the final one (the server takes no outputs once the task is final).
    pub fn running_state(&self) -> TaskStateView {
        TaskStateView { result: TaskResult::Unspecified, stopped_at: None, ..self.state() }
    }

    /// Rows not acknowledged yet, and the absolute index of the first.
    pub fn unacked(&self) -> (i64, &[Row]) {
        (self.acked, &self.pending)
    }

    /// Bytes of content not acknowledged yet.
    pub fn unacked_bytes(&self) -> usize {
        self.pending.iter().map(|row| row.content.len()).sum()
    }

    /// Takes the server's `ack_index`. Returns whether rows were acknowledged.
    ///
    /// An index below what the server acknowledged before means it lost rows we no longer
    /// have; placeholder rows take their places so every later range still points at the
    /// right rows.
    pub fn acknowledge(&mut self, ack_index: i64, now: OffsetDateTime) -> bool {
        if ack_index < self.acked {
            let lost = self.acked - ack_index;
            tracing::error!(task_id = self.task_id, lost, "the forge lost log rows it had acknowledged");
            let filler = Row { time: now, content: "(this line was lost by the forge)".to_owned() };
            self.pending.splice(0..0, std::iter::repeat_n(filler, lost as usize));
            self.acked = ack_index;
            return false;
        }
        let taken = (ack_index - self.acked).min(self.pending.len() as i64);
        if ack_index > self.row_count() {
            // After a restart from a state saved before its last flush: the events that follow
            // rebuild the same rows at the same indexes, and the server skips them as overlap.
            tracing::info!(
                task_id = self.task_id,
                ack_index,
                rows = self.row_count(),
                "the forge holds rows not written yet"
            );
        }
        self.pending.drain(..taken as usize);
        self.acked += taken;
        taken > 0
    }

    /// The server archived the log and takes no more rows: forget the unsent ones.
    pub fn archive_log(&mut self) {
        if !self.log_archived {
            tracing::warn!(
                task_id = self.task_id,
                dropped = self.pending.len(),
                "the task log is archived; rows dropped"
            );
        }
        self.log_archived = true;
        self.acked += self.pending.len() as i64;
        self.pending.clear();
    }

    /// Outputs the server has not acknowledged.
    pub fn unsent_outputs(&self) -> BTreeMap<String, String> {
        self.outputs
            .iter()
            .filter(|(key, _)| !self.sent_outputs.contains(*key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// Takes the server's `sent_outputs`.
    pub fn outputs_sent(&mut self, keys: &[String]) {
        self.sent_outputs.extend(keys.iter().filter(|key| self.outputs.contains_key(*key)).cloned());
    }

    /// The final state was acknowledged.
    pub fn reported(&mut self) {
        self.final_reported = true;
    }

    fn order(&self, seq: u64) -> Applied {
        if seq == self.last_seq + 1 { Applied::Taken } else { Applied::Gap { expected: self.last_seq + 1 } }
    }

    fn take(&mut self, job_event: &JobEvent) {
        let at = job_event.at;
        match &job_event.event {
            Event::Accepted { orchestrator } => {
                self.started_at.get_or_insert(at);
                let (job, attempt) = (job_event.job_id, job_event.attempt);
                self.write_setup(rows(at, &format!("solstice job {job} attempt {attempt} taken by {orchestrator}")));
            }
            Event::VmBooting { label } => {
                self.started_at.get_or_insert(at);
                self.vm_booting_at = Some(at);
                self.write_setup(rows(at, &format!("vm booting {label}")));
            }
            Event::VmReady { label } => {
                let line = match self.vm_booting_at {
                    Some(booting) => format!("vm ready {label} after {:.1} s", (at - booting).as_seconds_f64()),
                    None => format!("vm ready {label}"),
                };
                self.write_setup(rows(at, &line));
            }
            Event::StepStarted { index, name } => {
                self.started_at.get_or_insert(at);
                if let Some(step) = self.step_index(*index) {
                    self.names[step] = Some(name.clone());
                    self.start_step(step, at);
                }
            }
            Event::Log { section, lines, .. } => {
                let rows: Vec<Row> = lines.iter().flat_map(|line| rows(at, line)).collect();
                self.write(*section, at, rows);
            }
            Event::Annotation(annotation) => {
                // A step's annotation is already in its log as the `##[error]` line the step
                // engine wrote; only job-level ones need a row.
                if annotation.step.is_none() {
                    let text = mask(&annotation_line(annotation), &self.secrets);
                    let rows = rows(at, &text);
                    match self.region {
                        Region::Setup => self.push(rows),
                        _ => self.hold(rows),
                    }
                }
            }
            Event::StepFinished { index, name, outcome, .. } => {
                if let Some(step) = self.step_index(*index) {
                    self.names[step] = Some(name.clone());
                    self.finish_step(step, at, (*outcome).into());
                }
            }
            Event::JobFinished { result, outputs, error } => {
                self.finish(at, (*result).into(), outputs.clone(), error.as_deref());
            }
            Event::StepSummary { .. } | Event::Heartbeat | Event::CheckoutRequested { .. } | Event::Unknown => {}
        }
    }

    fn step_index(&self, index: u32) -> Option<usize> {
        let step = index as usize;
        if step < self.steps.len() {
            Some(step)
        } else {
            tracing::warn!(
                task_id = self.task_id,
                index,
                steps = self.steps.len(),
                "event for a step the task does not have"
            );
            None
        }
    }

    /// Opens step `step`'s range at the current end of the log, if the log has not moved past it.
    fn start_step(&mut self, step: usize, at: OffsetDateTime) {
        if self.region >= Region::Step(step) {
            // Already open (its lines came first), or the log moved on: its rows go elsewhere.
            self.steps[step].started_at.get_or_insert(at);
            return;
        }
        self.region = Region::Step(step);
        let log_index = self.row_count();
        let view = &mut self.steps[step];
        view.log_index = log_index;
        view.log_length = 0;
        view.started_at = Some(at);
    }

    fn finish_step(&mut self, step: usize, at: OffsetDateTime, result: TaskResult) {
        if self.region < Region::Step(step) {
            // A step that never started (skipped): a zero-length range at the current end, so
            // the steps after it still line up.
            self.region = Region::Step(step);
            self.steps[step].log_index = self.row_count();
            self.steps[step].log_length = 0;
        }
        let view = &mut self.steps[step];
        if result != TaskResult::Skipped {
            view.started_at.get_or_insert(at);
        }
        view.result = result;
        view.stopped_at = Some(at);
    }

    fn write(&mut self, section: Section, at: OffsetDateTime, rows: Vec<Row>) {
        match section {
            Section::Setup => self.write_setup(rows),
            Section::Complete => {
                self.open_complete();
                self.push(rows);
            }
            Section::Step(index) => {
                let Some(step) = self.step_index(index) else {
                    self.hold(labelled(&format!("step {}", index as u64 + 1), rows));
                    return;
                };
                if self.region < Region::Step(step) {
                    self.start_step(step, at);
                }
                if self.region == Region::Step(step) {
                    self.steps[step].log_length += rows.len() as i64;
                    self.push(rows);
                } else {
                    let name = self.names[step].clone().unwrap_or_else(|| format!("step {}", step + 1));
                    self.hold(labelled(&name, rows));
                }
            }
        }
    }

    fn write_setup(&mut self, rows: Vec<Row>) {
        if self.region == Region::Setup {
            self.push(rows);
        } else {
            self.hold(labelled("Set up job", rows));
        }
    }

    /// Rows for after the steps: written now if the completion region is open, else kept.
    fn hold(&mut self, rows: Vec<Row>) {
        if self.region == Region::Complete {
            self.push(rows);
        } else {
            self.held.extend(rows);
        }
    }

    fn open_complete(&mut self) {
        if self.region != Region::Complete {
            self.region = Region::Complete;
            self.complete_index = Some(self.row_count());
            let held = std::mem::take(&mut self.held);
            self.push(held);
        }
    }

    fn push(&mut self, rows: Vec<Row>) {
        if self.log_archived {
            self.acked += rows.len() as i64;
        } else {
            self.pending.extend(rows);
        }
    }

    fn finish(
        &mut self,
        at: OffsetDateTime,
        result: TaskResult,
        outputs: BTreeMap<String, String>,
        error: Option<&str>,
    ) {
        self.open_complete();
        if let Some(error) = error {
            let text = mask(error, &self.secrets);
            self.push(rows(at, &text));
        }
        self.outputs = outputs.into_iter().filter(|(key, value)| self.output_fits(at, key, value)).collect();
        // Always at least one completion row: the final UpdateLog must write a row, or the
        // server ignores its `no_more`.
        self.push(rows(at, &closing_line(result)));
        // A step left without a result would show as waiting forever.
        let unfinished = if result == TaskResult::Skipped { TaskResult::Skipped } else { TaskResult::Cancelled };
        let end_of_steps = self.complete_index.unwrap_or(0);
        for step in &mut self.steps {
            if !step.result.is_final() {
                step.result = unfinished;
                if step.started_at.is_some() {
                    step.stopped_at = Some(at);
                } else {
                    step.log_index = end_of_steps;
                    step.log_length = 0;
                }
            }
        }
        self.started_at.get_or_insert(at);
        self.stopped_at = Some(at);
        self.result = result;
    }
}

impl Ledger {
    /// Whether Forgejo stores this output (key ≤ 255 bytes, value ≤ 1 MiB); it ignores others
    /// silently, so say it in the log instead.
    fn output_fits(&mut self, at: OffsetDateTime, key: &str, value: &str) -> bool {
        const MAX_KEY: usize = 255;
        const MAX_VALUE: usize = 1024 * 1024;
        if key.len() <= MAX_KEY && value.len() <= MAX_VALUE {
            return true;
        }
        let shown: String = key.chars().take(64).collect();
        let line =
            format!("Output {shown} is not sent: Forgejo takes keys up to {MAX_KEY} bytes and values up to 1 MiB.");
        self.push(rows(at, &line));
        false
    }
}

/// The job's last row, in our own words.
fn closing_line(result: TaskResult) -> String {
    let word = match result {
        TaskResult::Success => "succeeded",
        TaskResult::Failure | TaskResult::Unspecified => "failed",
        TaskResult::Cancelled => "was cancelled",
        TaskResult::Skipped => "was skipped",
    };
    format!("Job {word}")
}

fn empty_step(id: i64) -> StepView {
    StepView { id, result: TaskResult::Unspecified, started_at: None, stopped_at: None, log_index: 0, log_length: 0 }
}

/// Rows moved out of their region, labelled with where they belong.
fn labelled(origin: &str, rows: Vec<Row>) -> Vec<Row> {
    rows.into_iter().map(|row| Row { content: format!("[{origin}] {}", row.content), ..row }).collect()
}

/// A job-level annotation as a row: `##[error]file:line:col: message`, leaving out what is
/// missing.
fn annotation_line(annotation: &Annotation) -> String {
    let level = match annotation.level {
        AnnotationLevel::Error => "error",
        AnnotationLevel::Warning => "warning",
        AnnotationLevel::Notice => "notice",
    };
    let mut place = String::new();
    if let Some(file) = &annotation.file {
        place.push_str(file);
        if let Some(line) = annotation.line {
            place.push_str(&format!(":{line}"));
            if let Some(col) = annotation.col {
                place.push_str(&format!(":{col}"));
            }
        }
        place.push_str(": ");
    }
    format!("##[{level}]{place}{}", annotation.message)
}
