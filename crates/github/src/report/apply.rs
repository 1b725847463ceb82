//! Applying one event to the step list, the spool files and the live console; the job's end.

use std::io::Write;

use contract::{AnnotationLevel, Event, JobEvent, Section};
use time::OffsetDateTime;

use super::{Finish, JobReport, Mark};
use crate::job::{AnnotationBody, Completion, Conclusion, OutputValue, StepResult, timestamp};
use crate::results::{Ids, SUMMARY_LIMIT, StepStatus, StepUpdate};

/// The job log's spool file name (step files are named by their GUIDs).
const JOB_LOG: &str = "job.log";

impl JobReport {
    /// Applies one event; `Some` when the job ended.
    pub(super) async fn apply(&mut self, event: JobEvent) -> Option<Finish> {
        let mark = Mark { attempt: event.attempt, seq: event.seq };
        if let Some(seen) = self.state.mark {
            if mark <= seen {
                tracing::debug!(?mark, "event seen already; skipped");
                return None;
            }
            if mark.attempt > seen.attempt {
                self.restart(mark.attempt);
            }
        }
        self.state.mark = Some(mark);
        match event.event {
            Event::Accepted { orchestrator } => self.note(0, &format!("solstice: job accepted by {orchestrator}")),
            Event::VmBooting { label } => self.note(0, &format!("solstice: VM booting ({label})")),
            Event::VmReady { label } => self.note(0, &format!("solstice: VM ready ({label})")),
            Event::StepStarted { index, .. } => {
                self.end_setup().await;
                let row = self.row(Section::Step(index));
                self.start_step(row);
            }
            Event::Log { section, first_line, lines } => {
                let row = self.row(section);
                let step = &mut self.state.steps[row];
                // Lines up to `attempt_lines` were written already (a redelivery or overlap).
                let skip = usize::try_from(step.attempt_lines.saturating_sub(first_line.saturating_sub(1)))
                    .unwrap_or(usize::MAX)
                    .min(lines.len());
                step.attempt_lines = step.attempt_lines.max(first_line.saturating_sub(1) + lines.len() as u64);
                if section == Section::Complete {
                    self.end_setup().await;
                }
                if self.state.steps[row].status == StepStatus::Pending {
                    self.start_step(row);
                }
                self.write_lines(row, &lines[skip..]);
            }
            Event::Annotation(annotation) => {
                let row = annotation.step.map(|index| self.row(Section::Step(index)));
                let body = AnnotationBody {
                    level: match annotation.level {
                        AnnotationLevel::Error => "failure",
                        AnnotationLevel::Warning => "warning",
                        AnnotationLevel::Notice => "notice",
                    }
                    .to_owned(),
                    message: annotation.message,
                    title: annotation.title,
                    path: annotation.file,
                    start_line: annotation.line,
                    end_line: annotation.end_line,
                    start_column: annotation.col,
                    end_column: annotation.end_column,
                    step_number: row.map(|row| self.state.steps[row].number),
                    is_infrastructure_issue: false,
                };
                match row {
                    Some(row) => self.state.steps[row].annotations.push(body),
                    None => self.state.annotations.push(body),
                }
            }
            Event::StepSummary { index, markdown } => {
                self.upload_summary(self.row(Section::Step(index)), &markdown).await
            }
            Event::StepFinished { index, conclusion, .. } => {
                self.end_setup().await;
                let row = self.row(Section::Step(index));
                self.complete_step(row, Conclusion::from(conclusion)).await;
            }
            Event::JobFinished { result, outputs, error } => {
                return Some(Finish { conclusion: Conclusion::from(result), outputs, error });
            }
            Event::Heartbeat | Event::CheckoutRequested { .. } | Event::Unknown => {}
        }
        None
    }

    /// The row of a section; a step index the message did not have goes to "Complete job".
    fn row(&self, section: Section) -> usize {
        let last = self.state.steps.len() - 1;
        match section {
            Section::Setup => 0,
            Section::Step(index) => usize::try_from(index).map_or(last, |index| (index + 1).min(last)),
            Section::Complete => last,
        }
    }

    /// The orchestrator started the job again: "Set up job" reopens, every other row is pending.
    fn restart(&mut self, attempt: u32) {
        for (row, step) in self.state.steps.iter_mut().enumerate() {
            step.attempt_lines = 0;
            if row > 0 && step.status != StepStatus::Pending {
                step.status = StepStatus::Pending;
                step.conclusion = None;
                step.completed_at = None;
                self.changed.insert(row);
            }
        }
        let setup = &mut self.state.steps[0];
        setup.status = StepStatus::InProgress;
        setup.conclusion = None;
        setup.completed_at = None;
        self.changed.insert(0);
        self.note(0, &format!("solstice: the orchestrator restarted the job (attempt {attempt}); its steps run again"));
    }

    /// A line of our own in a row's log.
    fn note(&mut self, row: usize, line: &str) {
        self.write_lines(row, &[line.to_owned()]);
    }

    pub(super) fn start_step(&mut self, row: usize) {
        let step = &mut self.state.steps[row];
        step.status = StepStatus::InProgress;
        step.started_at.get_or_insert_with(now);
        self.changed.insert(row);
    }

    async fn end_setup(&mut self) {
        if self.state.steps[0].status != StepStatus::Completed {
            self.complete_step(0, Conclusion::Succeeded).await;
        }
    }

    /// Completes a row and uploads its log.
    async fn complete_step(&mut self, row: usize, conclusion: Conclusion) {
        let at = now();
        let step = &mut self.state.steps[row];
        step.status = StepStatus::Completed;
        step.conclusion = Some(conclusion);
        step.started_at.get_or_insert_with(|| at.clone());
        step.completed_at = Some(at);
        self.changed.insert(row);
        let (id, lines) = (step.external_id.clone(), step.lines);
        if lines == 0 {
            return;
        }
        let Some(results) = &self.results else { return };
        let path = self.spool_dir().join(format!("{id}.log"));
        let data = match tokio::fs::read(&path).await {
            Ok(data) => data,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "the step's spooled log cannot be read; not uploaded");
                return;
            }
        };
        if let Err(error) = results.upload_step_log(self.ids(), &id, &data, lines).await {
            tracing::warn!(step = %id, error = %crate::error_chain(&error), "could not upload the step's log");
            let name = self.state.steps.iter().find(|step| step.external_id == id).map(|step| step.name.clone());
            self.upload_failed(&format!("the log of step '{}'", name.unwrap_or(id)));
        }
    }

    /// Appends lines to a row's spool file and the job log with the .NET "O" timestamp
    /// (ref §5.4), and sends them unprefixed to the live console.
    fn write_lines(&mut self, row: usize, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let stamp = dotnet_o(OffsetDateTime::now_utc());
        let mut text = String::new();
        for line in lines {
            text.push_str(&stamp);
            text.push(' ');
            text.push_str(line);
            text.push('\n');
        }
        let step = &mut self.state.steps[row];
        let start_line = step.lines + 1;
        step.lines += lines.len() as u64;
        self.state.job_lines += lines.len() as u64;
        let id = step.external_id.clone();
        for name in [format!("{id}.log"), JOB_LOG.to_owned()] {
            if let Err(error) = append(&self.spool, &name, &text) {
                tracing::warn!(file = %name, %error, "could not spool log lines");
            }
        }
        if let Some(live) = &mut self.live {
            live.send(&id, start_line, lines);
        }
    }

    async fn upload_summary(&mut self, row: usize, markdown: &str) {
        if markdown.trim().is_empty() {
            return;
        }
        if markdown.len() > SUMMARY_LIMIT {
            let line =
                format!("##[warning]the step summary is {} bytes, over the 1 MiB limit; not uploaded", markdown.len());
            self.note(row, &line);
            return;
        }
        let Some(results) = &self.results else { return };
        let id = &self.state.steps[row].external_id;
        if let Err(error) = results.upload_step_summary(self.ids(), id, markdown).await {
            tracing::warn!(step = %id, error = %crate::error_chain(&error), "could not upload the step summary");
            let name = self.state.steps[row].name.clone();
            self.upload_failed(&format!("the summary of step '{name}'"));
        }
    }

    /// Sends the changed rows in one `WorkflowStepsUpdate` with the next change order.
    pub(super) async fn flush_steps(&mut self) {
        if self.changed.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.changed);
        self.state.change_order += 1;
        let Some(results) = &self.results else { return };
        let steps: Vec<StepUpdate> = rows
            .into_iter()
            .map(|row| {
                let step = &self.state.steps[row];
                StepUpdate {
                    external_id: step.external_id.clone(),
                    number: step.number,
                    name: step.name.clone(),
                    status: step.status,
                    conclusion: step.conclusion,
                    started_at: step.started_at.clone(),
                    completed_at: step.completed_at.clone(),
                }
            })
            .collect();
        if let Err(error) = results.steps_update(&steps, self.state.change_order, self.ids()).await {
            tracing::warn!(job = %self.context.job_id, error = %crate::error_chain(&error), "could not update the step list");
            self.upload_failed("the step list");
        }
    }

    /// Ends the job: open rows closed, the error shown, logs uploaded, the completion built.
    pub(super) async fn finish(&mut self, finish: Finish) -> Completion {
        let last = self.state.steps.len() - 1;
        let any_step_ran = self.state.steps[1..last].iter().any(|step| step.status != StepStatus::Pending);
        if let Some(error) = &finish.error {
            let row = if any_step_ran { last } else { 0 };
            self.note(row, &format!("##[error]{error}"));
            self.state.annotations.push(failure(error));
        }
        if self.state.steps[0].status != StepStatus::Completed {
            let setup = if !any_step_ran && finish.conclusion != Conclusion::Succeeded {
                finish.conclusion
            } else {
                Conclusion::Succeeded
            };
            self.complete_step(0, setup).await;
        }
        for row in 1..last {
            match self.state.steps[row].status {
                StepStatus::Completed => {}
                StepStatus::InProgress => {
                    let conclusion = match finish.conclusion {
                        Conclusion::Canceled => Conclusion::Canceled,
                        _ => Conclusion::Failed,
                    };
                    self.complete_step(row, conclusion).await;
                }
                StepStatus::Pending => self.complete_step(row, Conclusion::Skipped).await,
            }
        }
        if self.state.steps[last].status == StepStatus::Pending {
            self.start_step(last);
        }
        self.note(last, &format!("Cleaning up: the job {}", conclusion_word(finish.conclusion)));
        self.complete_step(last, Conclusion::Succeeded).await;
        self.flush_steps().await;
        if let Some(results) = &self.results {
            let path = self.spool.join(JOB_LOG);
            match tokio::fs::read(&path).await {
                Ok(data) => {
                    if let Err(error) = results.upload_job_log(self.ids(), &data, self.state.job_lines).await {
                        tracing::warn!(error = %crate::error_chain(&error), "could not upload the job log");
                        self.upload_failed("the job log");
                    }
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "the job log cannot be read; not uploaded")
                }
            }
        }
        self.completion(finish)
    }

    fn completion(&self, finish: Finish) -> Completion {
        let step_results = self
            .state
            .steps
            .iter()
            .map(|step| StepResult {
                external_id: step.external_id.clone(),
                number: step.number,
                name: step.name.clone(),
                status: "completed".to_owned(),
                conclusion: step.conclusion.unwrap_or(Conclusion::Skipped),
                started_at: step.started_at.clone(),
                completed_at: step.completed_at.clone(),
                completed_log_lines: Some(step.lines),
                annotations: step.annotations.clone(),
            })
            .collect();
        Completion {
            plan_id: self.context.plan_id.clone(),
            job_id: self.context.job_id.clone(),
            conclusion: finish.conclusion,
            outputs: finish
                .outputs
                .into_iter()
                .map(|(name, value)| (name, OutputValue { value, is_secret: false }))
                .collect(),
            step_results,
            annotations: self.state.annotations.clone(),
            billing_owner_id: self.context.billing_owner_id.clone(),
        }
    }

    /// Says on the job's summary (a warning annotation of the completion) that `what` could not
    /// reach GitHub after Results' retries: the run page would otherwise just miss it. Once per
    /// thing.
    fn upload_failed(&mut self, what: &str) {
        let message = format!(
            "The runner could not upload {what} to GitHub (Results did not take it after {} tries); the job itself ran.",
            self.config.results.tries
        );
        if !self.state.annotations.iter().any(|annotation| annotation.message == message) {
            let mut annotation = failure(&message);
            annotation.level = "warning".to_owned();
            self.state.annotations.push(annotation);
        }
    }

    fn ids(&self) -> Ids<'_> {
        Ids { plan_id: &self.context.plan_id, job_id: &self.context.job_id }
    }
}

fn conclusion_word(conclusion: Conclusion) -> &'static str {
    match conclusion {
        Conclusion::Succeeded => "succeeded",
        Conclusion::Failed => "failed",
        Conclusion::Canceled => "was cancelled",
        Conclusion::Skipped => "was skipped",
    }
}

fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// The .NET "O" form, `yyyy-MM-ddTHH:mm:ss.fffffffZ` (ref §5.4).
fn dotnet_o(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() / 100
    )
}

fn append(dir: &std::path::Path, name: &str, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name))?;
    file.write_all(text.as_bytes())
}

/// The annotation of a job's failure that no step reported.
fn failure(message: &str) -> AnnotationBody {
    AnnotationBody {
        level: "failure".to_owned(),
        message: message.to_owned(),
        title: None,
        path: None,
        start_line: None,
        end_line: None,
        start_column: None,
        end_column: None,
        step_number: None,
        is_infrastructure_issue: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_timestamps_have_seven_fraction_digits() {
        let at = time::macros::datetime!(2024-05-01 12:00:00.1234567 UTC);
        assert_eq!(dotnet_o(at), "2024-05-01T12:00:00.1234567Z");
    }
}
