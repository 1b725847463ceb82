//! The pure half of reporting: events in, rows and step states out, and what the server has
//! acknowledged. No IO and no clock of its own: every time comes from an event or the caller.

use std::collections::{BTreeMap, BTreeSet};

use contract::JobEvent;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod layout;

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
}

fn empty_step(id: i64) -> StepView {
    StepView { id, result: TaskResult::Unspecified, started_at: None, stopped_at: None, log_index: 0, log_length: 0 }
}
