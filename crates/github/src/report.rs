//! A job's [`contract::JobEvent`]s turned into what the run page shows (ref §5): the step list
//! ("Set up job", the job's steps, "Complete job") with live states through Results
//! `WorkflowStepsUpdate`, each step's log spooled to disk and uploaded when the step ends, the
//! job log, step summaries, live console lines, and finally the completejob body.
//!
//! Events are deduplicated by `(attempt, seq)` ([`Mark`]); the state is saved through a
//! [`Checkpoint`] after each batch and only then offered for acking ([`JobReport::saved_mark`]),
//! so a restarted runner continues from [`ReportState`] and its spool files.
//!
//! A new attempt (the orchestrator restarted the job) reopens "Set up job" with a line saying
//! so and sets every other step back to pending; the earlier attempt's lines stay in the logs,
//! and the orchestrator's line numbering starts again for each step.

mod apply;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use contract::JobEvent;
use tokio::sync::{mpsc, watch};

use crate::job::{Completion, Conclusion, JobContext};
use crate::live::{LiveConfig, LiveConsole};
use crate::results::{Results, ResultsConfig};

pub use state::{Checkpoint, CheckpointError, Mark, ReportState, StepState, StoreCheckpoint};

/// Timings of a report; the defaults are issue 5's and the official runner's.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// No event at all (heartbeats included) for this long fails the job.
    pub silence: Duration,
    /// After GitHub cancelled, how long to wait for the job's end before reporting it cancelled.
    pub cancel_grace: Duration,
    pub results: ResultsConfig,
    pub live: LiveConfig,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            silence: Duration::from_secs(60),
            cancel_grace: Duration::from_secs(30),
            results: ResultsConfig::default(),
            live: LiveConfig::default(),
        }
    }
}

/// How a report ended.
#[derive(Debug)]
pub enum ReportEnd {
    /// The job is over and everything visible is uploaded; completejob takes this.
    Completed(Completion),
    /// The events stopped coming from the caller (shutdown): the state stays saved.
    Detached,
}

/// Why a job ends, as the report's last act is given it.
struct Finish {
    conclusion: Conclusion,
    outputs: BTreeMap<String, String>,
    error: Option<String>,
}

/// One job's report.
pub struct JobReport {
    context: JobContext,
    /// `<spool_dir>/<job_id>`.
    spool: PathBuf,
    config: ReportConfig,
    state: ReportState,
    results: Option<Results>,
    live: Option<LiveConsole>,
    /// Rows changed since the last `WorkflowStepsUpdate`.
    changed: BTreeSet<usize>,
    saved: watch::Sender<Option<Mark>>,
    cancel: watch::Sender<bool>,
}

/// Events applied between two saves at most.
const BATCH: usize = 100;

impl JobReport {
    /// A report of a job nothing was reported of yet.
    pub fn new(context: JobContext, spool_dir: PathBuf, config: ReportConfig) -> JobReport {
        let state = ReportState::new(&context);
        JobReport::restore(context, state, spool_dir, config)
    }

    /// A report saved by an earlier run; its spool files are expected under `spool_dir`.
    pub fn restore(context: JobContext, state: ReportState, spool_dir: PathBuf, config: ReportConfig) -> JobReport {
        let results = context.results_url.as_deref().and_then(|url| match crate::http::client() {
            Ok(http) => Some(Results::new(http, url, &context.job_token).with_config(config.results.clone())),
            Err(error) => {
                tracing::warn!(%error, "no HTTP client for Results; the job's steps and logs will not show");
                None
            }
        });
        let live = context.feed_stream_url.as_deref().and_then(|url| {
            LiveConsole::start(crate::http::user_agent(), url, &context.job_token, config.live.clone())
        });
        let (saved, _) = watch::channel(state.mark);
        let (cancel, _) = watch::channel(false);
        // After a restart Results may have missed the last update: send every row again.
        let changed = if state.change_order > 0 { (0..state.steps.len()).collect() } else { BTreeSet::new() };
        let spool = spool_dir.join(&context.job_id);
        JobReport { context, spool, config, state, results, live, changed, saved, cancel }
    }

    /// What a checkpoint saves now.
    pub fn state(&self) -> ReportState {
        self.state.clone()
    }

    /// The mark of the last saved event: deliveries up to it may be acked.
    pub fn saved_mark(&self) -> watch::Receiver<Option<Mark>> {
        self.saved.subscribe()
    }

    /// Set it to `true` when GitHub cancelled the job (or its lease was lost): unless the
    /// orchestrator ends the job within the cancel grace, the report completes it cancelled.
    pub fn cancel_handle(&self) -> watch::Sender<bool> {
        self.cancel.clone()
    }

    /// Applies the job's events until its end (or the caller detaches), saving after each batch.
    pub async fn run(mut self, mut events: mpsc::Receiver<JobEvent>, checkpoint: &mut dyn Checkpoint) -> ReportEnd {
        self.begin().await;
        self.save(checkpoint).await;
        let mut cancel = self.cancel.subscribe();
        let mut cancel_deadline: Option<tokio::time::Instant> = None;
        loop {
            let silence = tokio::time::sleep(self.config.silence);
            let grace = async {
                match cancel_deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let finish = tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { return ReportEnd::Detached };
                    let mut finish = self.apply(event).await;
                    let mut applied = 1;
                    while finish.is_none() && applied < BATCH {
                        let Ok(event) = events.try_recv() else { break };
                        finish = self.apply(event).await;
                        applied += 1;
                    }
                    self.flush_steps().await;
                    self.save(checkpoint).await;
                    finish
                }
                changed = cancel.changed(), if cancel_deadline.is_none() => {
                    match changed {
                        Ok(()) if *cancel.borrow() => {
                            cancel_deadline = Some(tokio::time::Instant::now() + self.config.cancel_grace);
                        }
                        Ok(()) => {}
                        // Nobody can cancel any more: stop watching.
                        Err(_) => cancel_deadline = Some(tokio::time::Instant::now() + Duration::from_secs(3600 * 24 * 365)),
                    }
                    None
                }
                () = grace => Some(Finish {
                    conclusion: Conclusion::Canceled,
                    outputs: BTreeMap::new(),
                    error: Some(format!(
                        "the job was cancelled and the orchestrator did not end it within {} s",
                        self.config.cancel_grace.as_secs()
                    )),
                }),
                () = silence => {
                    let reason = format!("the orchestrator sent nothing for {} s", self.config.silence.as_secs());
                    tracing::warn!(job = %self.context.job_id, %reason, "failing the job");
                    Some(Finish { conclusion: Conclusion::Failed, outputs: BTreeMap::new(), error: Some(reason) })
                }
            };
            if let Some(finish) = finish {
                let completion = self.finish(finish).await;
                self.save(checkpoint).await;
                return ReportEnd::Completed(completion);
            }
        }
    }

    /// A job that never ran (its steps could not be translated, no orchestrator took it): "Set
    /// up job" failed with `reason` in its log and an annotation, every step skipped. Returns
    /// the completion once that is uploaded.
    pub async fn fail_without_events(
        context: JobContext,
        reason: &str,
        spool_dir: PathBuf,
        config: ReportConfig,
    ) -> Completion {
        let mut report = JobReport::new(context, spool_dir, config);
        report.begin().await;
        let finish =
            Finish { conclusion: Conclusion::Failed, outputs: BTreeMap::new(), error: Some(reason.to_owned()) };
        report.finish(finish).await
    }

    /// The first update: every row pending, then "Set up job" in progress.
    async fn begin(&mut self) {
        if self.state.change_order > 0 {
            return;
        }
        self.changed = (0..self.state.steps.len()).collect();
        self.flush_steps().await;
        self.start_step(0);
        self.flush_steps().await;
    }

    async fn save(&mut self, checkpoint: &mut dyn Checkpoint) {
        match checkpoint.save(&self.state).await {
            Ok(()) => {
                self.saved.send_replace(self.state.mark);
            }
            Err(error) => {
                tracing::warn!(job = %self.context.job_id, error = %crate::error_chain(&error), "could not save the report's state");
            }
        }
    }

    fn spool_dir(&self) -> &Path {
        &self.spool
    }
}
