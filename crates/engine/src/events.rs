//! The one way out of the engine: every event passes here, and every text in it passes the
//! masker first. Log lines are batched: one `log` event per ~50 ms of output or per
//! [`EventsConfig::batch_lines`] lines, numbered from 1 within their section.

use std::collections::BTreeMap;
use std::time::Duration;

use contract::{AgentEvent, Annotation, Event, Outcome, Section};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::masking::Masker;

/// Where the engine sends its events.
pub type EventSink = mpsc::Sender<AgentEvent>;

#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// How long a line may wait for others to share its `log` event.
    pub batch_delay: Duration,
    pub batch_lines: usize,
    pub batch_bytes: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { batch_delay: Duration::from_millis(50), batch_lines: 500, batch_bytes: 256 * 1024 }
    }
}

pub struct Emitter {
    sink: EventSink,
    config: EventsConfig,
    masker: Masker,
    section: Section,
    next_line: u64,
    pending: Vec<String>,
    pending_bytes: usize,
    pending_since: Option<Instant>,
    closed: bool,
}

impl Emitter {
    pub fn new(sink: EventSink, config: EventsConfig, masker: Masker) -> Emitter {
        Emitter {
            sink,
            config,
            masker,
            section: Section::Setup,
            next_line: 1,
            pending: Vec::new(),
            pending_bytes: 0,
            pending_since: None,
            closed: false,
        }
    }

    pub fn masker_mut(&mut self) -> &mut Masker {
        &mut self.masker
    }

    pub fn mask(&self, text: &str) -> String {
        self.masker.mask(text)
    }

    /// Lines from now on belong to `section`, numbered from 1.
    pub async fn begin_section(&mut self, section: Section) {
        self.flush().await;
        self.section = section;
        self.next_line = 1;
    }

    /// One log line (no terminator; masked here).
    pub async fn line(&mut self, text: &str) {
        let masked = self.masker.mask(text);
        // A message may span lines (an `::error::` with `%0A`); the contract wants lines without
        // terminators, so CR LF, LF and a lone CR all split, as they do in a step's output.
        for line in masked.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            for part in line.split('\r') {
                self.pending_bytes += part.len();
                self.pending.push(part.to_owned());
            }
        }
        if self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        if self.pending.len() >= self.config.batch_lines || self.pending_bytes >= self.config.batch_bytes {
            self.flush().await;
        }
    }

    /// When the pending batch must go out, if there is one.
    pub fn flush_deadline(&self) -> Option<Instant> {
        self.pending_since.map(|since| since + self.config.batch_delay)
    }

    pub async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.pending);
        let first_line = self.next_line;
        self.next_line += lines.len() as u64;
        self.pending_bytes = 0;
        self.pending_since = None;
        self.send(Event::Log { section: self.section, first_line, lines }).await;
    }

    pub async fn step_started(&mut self, index: u32, name: &str) {
        self.flush().await;
        let name = self.masker.mask(name);
        self.send(Event::StepStarted { index, name }).await;
    }

    pub async fn annotation(&mut self, mut annotation: Annotation) {
        self.flush().await;
        annotation.message = self.masker.mask(&annotation.message);
        annotation.title = annotation.title.map(|t| self.masker.mask(&t));
        annotation.file = annotation.file.map(|f| self.masker.mask(&f));
        self.send(Event::Annotation(annotation)).await;
    }

    pub async fn step_summary(&mut self, index: u32, markdown: &str) {
        self.flush().await;
        let markdown = self.masker.mask(markdown);
        self.send(Event::StepSummary { index, markdown }).await;
    }

    pub async fn step_finished(
        &mut self,
        index: u32,
        name: &str,
        outcome: Outcome,
        conclusion: Outcome,
        outputs: &BTreeMap<String, String>,
    ) {
        self.flush().await;
        let name = self.masker.mask(name);
        let outputs = outputs.iter().map(|(k, v)| (k.clone(), self.masker.mask(v))).collect();
        self.send(Event::StepFinished { index, name, outcome, conclusion, outputs }).await;
    }

    pub async fn checkout_requested(&mut self, index: u32, request: contract::CheckoutRequest) {
        self.flush().await;
        self.send(Event::CheckoutRequested { index, request }).await;
    }

    pub async fn job_finished(&mut self, result: Outcome, outputs: &BTreeMap<String, String>, error: Option<&str>) {
        self.flush().await;
        let outputs = outputs.iter().map(|(k, v)| (k.clone(), self.masker.mask(v))).collect();
        let error = error.map(|e| self.masker.mask(e));
        self.send(Event::JobFinished { result, outputs, error }).await;
    }

    async fn send(&mut self, event: Event) {
        if self.closed {
            return;
        }
        if self.sink.send(AgentEvent { at: contract::now(), event }).await.is_err() {
            // Nobody listens any more; the job still runs to its end so processes are cleaned up.
            tracing::warn!("the event receiver is gone; further events are dropped");
            self.closed = true;
        }
    }
}
