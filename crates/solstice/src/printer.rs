//! The job log as `solstice run` prints it (ARCHITECTURE.md, "`solstice run` output"): every
//! line prefixed with `[<job display name>] `, written and flushed as events arrive.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use contract::{Annotation, Event, JobEvent, JobResult, Outcome, Section};
use ulid::Ulid;

/// Prints events of many jobs; drops a `seq` already seen and says so when one is missing.
pub struct Printer<W: Write> {
    out: W,
    jobs: HashMap<Ulid, JobView>,
}

#[derive(Debug, Default)]
struct JobView {
    name: String,
    last_seq: u64,
    setup_started: bool,
    complete_started: bool,
    /// The step whose `===` line was printed last.
    current_step: Option<u32>,
    step_names: BTreeMap<u32, String>,
    /// When the job's VM started booting, for the boot time on `vm ready`.
    vm_booting_at: Option<contract::Timestamp>,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W) -> Self {
        Printer { out, jobs: HashMap::new() }
    }

    /// Names a job before its events arrive: its `JobRequest.name`.
    pub fn add_job(&mut self, job_id: Ulid, name: &str) {
        self.jobs.entry(job_id).or_default().name = name.to_owned();
    }

    /// Prints one line for a job that never reached an orchestrator (e.g. `job skipped`).
    pub fn job_line(&mut self, name: &str, text: &str) -> io::Result<()> {
        writeln!(self.out, "[{name}] {text}")?;
        self.out.flush()
    }

    pub fn print(&mut self, event: &JobEvent) -> io::Result<()> {
        let view = self
            .jobs
            .entry(event.job_id)
            .or_insert_with(|| JobView { name: event.job_id.to_string(), ..JobView::default() });
        if event.seq <= view.last_seq {
            tracing::debug!(job_id = %event.job_id, seq = event.seq, "duplicate event dropped");
            return Ok(());
        }
        if event.seq != view.last_seq + 1 {
            tracing::warn!(job_id = %event.job_id, after = view.last_seq, got = event.seq, "events are missing");
        }
        view.last_seq = event.seq;
        let lines = view.render(event);
        for line in lines {
            writeln!(self.out, "[{}] {line}", view.name)?;
        }
        self.out.flush()
    }
}

impl JobView {
    fn render(&mut self, job_event: &JobEvent) -> Vec<String> {
        let mut lines = Vec::new();
        match &job_event.event {
            Event::VmBooting { label } => {
                // The VM is the first part of setting up the job, as a runner machine is on GitHub.
                if !self.setup_started {
                    self.setup_started = true;
                    lines.push("=== Set up job".to_owned());
                }
                self.vm_booting_at = Some(job_event.at);
                let (job, attempt) = (job_event.job_id, job_event.attempt);
                lines.push(format!("vm booting {label} (job {job}, attempt {attempt})"));
            }
            Event::VmReady { label } => match self.vm_booting_at {
                Some(booting) => {
                    let seconds = (job_event.at - booting).as_seconds_f64();
                    lines.push(format!("vm ready {label} after {seconds:.1} s"));
                }
                None => lines.push(format!("vm ready {label}")),
            },
            Event::StepStarted { index, name } => {
                self.step_names.insert(*index, name.clone());
                self.current_step = Some(*index);
                lines.push(format!("=== {name}"));
            }
            Event::Log { section, lines: text, .. } => {
                match section {
                    Section::Setup if !self.setup_started => {
                        self.setup_started = true;
                        lines.push("=== Set up job".to_owned());
                    }
                    Section::Complete if !self.complete_started => {
                        self.complete_started = true;
                        lines.push("=== Complete job".to_owned());
                    }
                    Section::Step(index) if self.current_step != Some(*index) => {
                        // Lines of a step whose start we did not see: name it once.
                        self.current_step = Some(*index);
                        let name = self.step_names.get(index).cloned().unwrap_or_else(|| format!("step {index}"));
                        lines.push(format!("=== {name}"));
                    }
                    _ => {}
                }
                lines.extend(text.iter().cloned());
            }
            Event::Annotation(annotation) => lines.push(annotation_line(annotation)),
            Event::StepSummary { markdown, .. } => {
                lines.extend(markdown.lines().map(|line| format!("summary: {line}")));
            }
            Event::StepFinished { index, name, outcome, conclusion, .. } => {
                self.step_names.insert(*index, name.clone());
                let mut line = format!("--- {name}: {}", outcome.as_str());
                if conclusion != outcome {
                    line.push_str(&format!(" (conclusion {})", conclusion.as_str()));
                }
                lines.push(line);
            }
            Event::JobFinished { result, outputs, error } => {
                lines.extend(outputs.iter().map(|(name, value)| format!("output {name}={value}")));
                lines.push(format!("job {}", result_word(*result)));
                if let Some(error) = error {
                    lines.extend(error.lines().map(|line| format!("error: {line}")));
                }
            }
            Event::Accepted { .. } | Event::Heartbeat | Event::CheckoutRequested { .. } | Event::Unknown => {}
        }
        lines
    }
}

fn result_word(result: JobResult) -> &'static str {
    Outcome::as_str(result)
}

/// `annotation <level> <file>:<line>:<col>: <message>`, leaving out what is missing.
fn annotation_line(annotation: &Annotation) -> String {
    let level = match annotation.level {
        contract::AnnotationLevel::Error => "error",
        contract::AnnotationLevel::Warning => "warning",
        contract::AnnotationLevel::Notice => "notice",
    };
    let mut place = String::new();
    if let Some(file) = &annotation.file {
        place.push(' ');
        place.push_str(file);
        if let Some(line) = annotation.line {
            place.push_str(&format!(":{line}"));
            if let Some(col) = annotation.col {
                place.push_str(&format!(":{col}"));
            }
        }
    }
    format!("annotation {level}{place}: {}", annotation.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(job_id: Ulid, seq: u64, event: Event) -> JobEvent {
        JobEvent { job_id, attempt: 1, seq, at: contract::now(), event }
    }

    fn annotation(file: Option<&str>, line: Option<u64>, col: Option<u64>) -> Annotation {
        Annotation {
            level: contract::AnnotationLevel::Error,
            message: "bad".into(),
            step: Some(0),
            title: None,
            file: file.map(str::to_owned),
            line,
            end_line: None,
            col,
            end_column: None,
        }
    }

    #[test]
    fn a_job_prints_as_architecture_md_says() {
        let job = Ulid::new();
        let mut printer = Printer::new(Vec::new());
        printer.add_job(job, "build (linux, 1)");
        let events = [
            Event::Accepted { orchestrator: "local".into() },
            Event::Log { section: Section::Setup, first_line: 1, lines: vec!["preparing".into()] },
            Event::StepStarted { index: 0, name: "Run echo hi".into() },
            Event::Log { section: Section::Step(0), first_line: 1, lines: vec!["hi".into(), "there".into()] },
            Event::Annotation(annotation(Some("a.rs"), Some(3), Some(7))),
            Event::Annotation(annotation(Some("a.rs"), Some(3), None)),
            Event::Annotation(annotation(None, None, None)),
            Event::StepSummary { index: 0, markdown: "# Title\nbody".into() },
            Event::StepFinished {
                index: 0,
                name: "Run echo hi".into(),
                outcome: Outcome::Failure,
                conclusion: Outcome::Success,
                outputs: BTreeMap::new(),
            },
            Event::StepFinished {
                index: 1,
                name: "later".into(),
                outcome: Outcome::Skipped,
                conclusion: Outcome::Skipped,
                outputs: BTreeMap::new(),
            },
            Event::Heartbeat,
            Event::Log { section: Section::Complete, first_line: 1, lines: vec!["cleaning up".into()] },
            Event::JobFinished {
                result: Outcome::Failure,
                outputs: BTreeMap::from([("a".into(), "1".into())]),
                error: Some("it broke\ntwice".into()),
            },
        ];
        for (seq, e) in events.into_iter().enumerate() {
            printer.print(&event(job, seq as u64 + 1, e)).unwrap();
        }
        // A duplicate is dropped.
        printer
            .print(&event(job, 2, Event::Log { section: Section::Setup, first_line: 1, lines: vec!["x".into()] }))
            .unwrap();
        let text = String::from_utf8(printer.out).unwrap();
        let expected = "\
[build (linux, 1)] === Set up job
[build (linux, 1)] preparing
[build (linux, 1)] === Run echo hi
[build (linux, 1)] hi
[build (linux, 1)] there
[build (linux, 1)] annotation error a.rs:3:7: bad
[build (linux, 1)] annotation error a.rs:3: bad
[build (linux, 1)] annotation error: bad
[build (linux, 1)] summary: # Title
[build (linux, 1)] summary: body
[build (linux, 1)] --- Run echo hi: failure (conclusion success)
[build (linux, 1)] --- later: skipped
[build (linux, 1)] === Complete job
[build (linux, 1)] cleaning up
[build (linux, 1)] output a=1
[build (linux, 1)] job failure
[build (linux, 1)] error: it broke
[build (linux, 1)] error: twice
";
        assert_eq!(text, expected);
    }

    #[test]
    fn vm_progress_opens_the_setup_section_and_names_the_job() {
        let job = Ulid::from_string("01KAQZ5X0V7Z3Y8N6T4R2M1P9C").unwrap();
        let mut printer = Printer::new(Vec::new());
        printer.add_job(job, "hello (plain)");
        let booting = event(job, 1, Event::VmBooting { label: "linux-test".into() });
        let mut ready = event(job, 2, Event::VmReady { label: "linux-test".into() });
        ready.at = booting.at + time_delta(8_250);
        let setup = event(job, 3, Event::Log { section: Section::Setup, first_line: 1, lines: vec!["agent".into()] });
        for e in [booting, ready, setup] {
            printer.print(&e).unwrap();
        }
        let text = String::from_utf8(printer.out).unwrap();
        let expected = "\
[hello (plain)] === Set up job
[hello (plain)] vm booting linux-test (job 01KAQZ5X0V7Z3Y8N6T4R2M1P9C, attempt 1)
[hello (plain)] vm ready linux-test after 8.2 s
[hello (plain)] agent
";
        assert_eq!(text, expected);
    }

    fn time_delta(millis: u64) -> std::time::Duration {
        std::time::Duration::from_millis(millis)
    }
}
