//! How events become rows in the right region of the log, and step ranges around them.

use std::collections::BTreeMap;

use contract::{Annotation, AnnotationLevel, Event, JobEvent, Section};
use time::OffsetDateTime;

use super::{Ledger, Region};
use crate::report::row::{mask, rows};
use crate::report::{Row, TaskResult};

impl Ledger {
    pub(super) fn take(&mut self, job_event: &JobEvent) {
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

    pub(super) fn write_setup(&mut self, rows: Vec<Row>) {
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

    pub(super) fn finish(
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
