//! Building requests, running them, and reading the events back.

use std::collections::BTreeMap;
use std::time::Duration;

use contract::{
    AgentEvent, Annotation, ControlMessage, Event, ForgeKind, JobRequest, Origin, Outcome, SecretString, Section,
    StepCommand, StepKind, Template,
};
use engine::{EngineConfig, JobReport, LocalHost};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub fn request(steps: Vec<StepCommand>) -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: "test".into(), forge_ref: serde_json::Value::Null };
    let mut request = JobRequest::new(ulid::Ulid::new(), origin, "local", "build");
    request.workspace.repository = "octo/hello".into();
    request.workspace.sha = "0123456789abcdef".into();
    request.workspace.git_ref = "refs/heads/main".into();
    request.steps = steps;
    request
}

/// A `run:` step with a literal script and a user id (`s<index>`).
pub fn run(index: u32, script: &str) -> StepCommand {
    StepCommand::run(index, format!("s{index}"), Template::literal(script))
}

/// A `run:` step whose script is an expression.
pub fn run_expr(index: u32, expr: &str) -> StepCommand {
    StepCommand::run(index, format!("s{index}"), Template::expr(expr))
}

pub fn checkout(index: u32) -> StepCommand {
    let mut step = StepCommand::run(index, "__actions_checkout", Template::literal(""));
    step.kind = StepKind::Checkout;
    step.uses = Some("actions/checkout@v4".into());
    step.run = None;
    step
}

pub fn host() -> LocalHost {
    let keep = ["PATH", "HOME", "USER", "LANG"];
    LocalHost::with_env(std::env::vars().filter(|(k, _)| keep.contains(&k.as_str())))
}

pub fn config(work: &std::path::Path) -> EngineConfig {
    let mut config = EngineConfig::new(work);
    config.runner_name = "test-runner".into();
    config.interrupt_grace = Duration::from_millis(300);
    config.terminate_grace = Duration::from_millis(300);
    config.timeout_unit = Duration::from_millis(500);
    config
}

pub fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
    pairs.iter().map(|(k, v)| (k.to_string(), SecretString::new(v.to_string()))).collect()
}

/// A finished job's events.
#[derive(Debug)]
pub struct Finished {
    pub events: Vec<Event>,
    pub report: JobReport,
    pub work: tempfile::TempDir,
}

pub async fn run_job(request: JobRequest) -> Finished {
    run_job_with(request, BTreeMap::new(), |_| {}).await
}

pub async fn run_job_with(
    request: JobRequest,
    secrets: BTreeMap<String, SecretString>,
    adjust: impl FnOnce(&mut EngineConfig),
) -> Finished {
    let running = start(request, secrets, adjust);
    running.finish().await
}

/// A job in progress, for tests that talk to it.
pub struct Running {
    pub events: mpsc::Receiver<AgentEvent>,
    pub control: mpsc::Sender<ControlMessage>,
    pub seen: Vec<Event>,
    handle: JoinHandle<JobReport>,
    work: tempfile::TempDir,
}

pub fn start(
    request: JobRequest,
    secrets: BTreeMap<String, SecretString>,
    adjust: impl FnOnce(&mut EngineConfig),
) -> Running {
    let work = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("cannot create a temp dir: {e}"),
    };
    let mut config = config(work.path());
    adjust(&mut config);
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (control_tx, control_rx) = mpsc::channel(64);
    let handle = tokio::spawn(async move {
        let host = host();
        engine::run_job(request, secrets, &host, &config, events_tx, control_rx).await
    });
    Running { events: events_rx, control: control_tx, seen: Vec::new(), handle, work }
}

impl Running {
    /// Waits for the next event matching `want` (events before it are kept in `seen`).
    pub async fn wait_for(&mut self, want: impl Fn(&Event) -> bool) -> Event {
        while let Some(event) = self.events.recv().await {
            self.seen.push(event.event.clone());
            if want(&event.event) {
                return event.event;
            }
        }
        panic!("the job ended without the awaited event; saw {:#?}", self.seen);
    }

    /// Waits until a log line of the job contains `text`.
    pub async fn wait_for_line(&mut self, text: &str) {
        self.wait_for(|e| matches!(e, Event::Log { lines, .. } if lines.iter().any(|l| l.contains(text)))).await;
    }

    pub async fn send(&self, message: ControlMessage) {
        if self.control.send(message).await.is_err() {
            panic!("the engine stopped reading control messages");
        }
    }

    pub async fn finish(mut self) -> Finished {
        while let Some(event) = self.events.recv().await {
            self.seen.push(event.event);
        }
        let report = match self.handle.await {
            Ok(report) => report,
            Err(e) => panic!("run_job panicked: {e}"),
        };
        Finished { events: self.seen, report, work: self.work }
    }
}

impl Finished {
    /// Every log line of `section`, checking that numbering is contiguous from 1.
    pub fn lines(&self, section: Section) -> Vec<String> {
        let mut out = Vec::new();
        for event in &self.events {
            if let Event::Log { section: s, first_line, lines } = event
                && *s == section
            {
                assert_eq!(*first_line, out.len() as u64 + 1, "line numbers of {section:?} are contiguous");
                out.extend(lines.iter().cloned());
            }
        }
        out
    }

    /// Log lines of step `index` outside GitHub's `##[group]Run …` header.
    pub fn output(&self, index: u32) -> Vec<String> {
        let lines = self.lines(Section::Step(index));
        match lines.iter().position(|l| l == "##[endgroup]") {
            Some(end) if lines.first().is_some_and(|l| l.starts_with("##[group]Run")) => lines[end + 1..].to_vec(),
            _ => lines,
        }
    }

    pub fn step(&self, index: u32) -> (Outcome, Outcome, BTreeMap<String, String>) {
        let found = self.events.iter().find_map(|e| match e {
            Event::StepFinished { index: i, outcome, conclusion, outputs, .. } if *i == index => {
                Some((*outcome, *conclusion, outputs.clone()))
            }
            _ => None,
        });
        match found {
            Some(found) => found,
            None => panic!("step {index} has no step_finished: {:#?}", self.events),
        }
    }

    pub fn outcome(&self, index: u32) -> Outcome {
        self.step(index).0
    }

    pub fn started_name(&self, index: u32) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            Event::StepStarted { index: i, name } if *i == index => Some(name.clone()),
            _ => None,
        })
    }

    pub fn finished_name(&self, index: u32) -> String {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::StepFinished { index: i, name, .. } if *i == index => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub fn annotations(&self) -> Vec<Annotation> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Annotation(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn summaries(&self) -> Vec<(u32, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StepSummary { index, markdown } => Some((*index, markdown.clone())),
                _ => None,
            })
            .collect()
    }

    /// The job's result, checking the contract: exactly one `job_finished`, and it is last.
    pub fn result(&self) -> Outcome {
        let finished: Vec<_> = self.events.iter().filter(|e| matches!(e, Event::JobFinished { .. })).collect();
        assert_eq!(finished.len(), 1, "exactly one job_finished: {:#?}", self.events);
        assert!(matches!(self.events.last(), Some(Event::JobFinished { .. })), "job_finished is last");
        self.report.result
    }

    /// Everything the engine emitted, as text, for "this never appears anywhere" checks.
    pub fn all_text(&self) -> String {
        self.events.iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect::<Vec<_>>().join("\n")
    }
}
