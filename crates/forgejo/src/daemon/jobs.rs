//! The running tasks: each fetched task becomes a JobRequest on the bus and a [`Reporter`] that
//! turns the job's events into rows and step states in Forgejo.
//!
//! [`Jobs`] owns the routing table (job id → the task's event channel); the event consumer
//! ([`Jobs::consume_events`]) hands each delivery to its task and leaves the ack to that task's
//! acker, which acks a delivery only once the saved ledger holds it. A task's state is saved in
//! the store under `<task id>/<job id>` before its request is published, so a runner that dies
//! in between finds the task again when it restarts and follows the job's events from the
//! durable queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bus::{Acker, Bus, BusError, Cancel, Consumer};
use contract::{Event, JobEvent};
use store::Store;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use ulid::Ulid;

use crate::report::{
    Ledger, Mark, ReportConfig, ReportEnd, ReportError, Reporter, StoreCheckpoint, TaskResult, TaskSink,
};
use crate::task::{TaskInput, TranslateSettings, translate};

/// How many events may wait for a task's reporter before the consumer waits for it. Above the
/// bus's prefetch (64 unacked deliveries), and a buffered event is unacked until saved, so the
/// consumer never blocks on one task's channel while others wait.
const EVENT_BUFFER: usize = 256;

/// Publish attempts for errors other than "no orchestrator serves the label".
const PUBLISH_ATTEMPTS: u32 = 5;

/// The `forge` label of this runner's metrics.
const FORGE: &str = "forgejo";

/// What every task shares.
pub struct Jobs<B: Bus> {
    pub bus: B,
    pub store: Arc<dyn Store>,
    pub sink: Arc<dyn TaskSink>,
    /// The runner instance id: the events queue this runner consumes and every request's
    /// `origin.runner_id`.
    pub runner_id: String,
    pub config: ReportConfig,
    /// An ephemeral runner's token dies with its one task: an `unauthenticated` while reporting
    /// that task's end means the server already finished it.
    pub ephemeral: bool,
    routes: Mutex<HashMap<Ulid, Route>>,
}

/// Where the consumer sends one job's deliveries.
struct Route {
    events: mpsc::Sender<JobEvent>,
    acks: mpsc::UnboundedSender<(Mark, Acker)>,
    /// The result the job's `job_finished` event gave, for an ephemeral runner whose final
    /// UpdateTask is refused.
    finished: Arc<Mutex<Option<TaskResult>>>,
}

/// The task's saved-state key: both ids, so a restart knows which job's events belong to it.
fn task_ref(task_id: i64, job_id: Ulid) -> String {
    format!("{task_id}/{job_id}")
}

fn parse_task_ref(text: &str) -> Option<(i64, Ulid)> {
    let (task, job) = text.split_once('/')?;
    Some((task.parse().ok()?, Ulid::from_string(job).ok()?))
}

impl<B: Bus> Jobs<B> {
    pub fn new(
        bus: B,
        store: Arc<dyn Store>,
        sink: Arc<dyn TaskSink>,
        runner_id: String,
        config: ReportConfig,
        ephemeral: bool,
    ) -> Jobs<B> {
        Jobs { bus, store, sink, runner_id, config, ephemeral, routes: Mutex::new(HashMap::new()) }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<Ulid, Route>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The jobs whose reports are under way.
    pub fn running(&self) -> Vec<Ulid> {
        self.routes().keys().copied().collect()
    }

    /// Cancels every running job on the bus (shutdown after the grace time); their reporters go
    /// on until the jobs' ends are reported.
    pub async fn cancel_all(&self, reason: &str) {
        for job_id in self.running() {
            let cancel = Cancel { job_id, attempt: None, reason: reason.to_owned() };
            if let Err(error) = self.bus.publish_cancel(&cancel).await {
                tracing::warn!(%job_id, error = %crate::error_chain(&error), "could not cancel the job on the bus");
            }
        }
    }

    /// Forgets every route: the reporters see their channels close and detach, keeping their
    /// saved state for the next start.
    pub fn detach_all(&self) {
        self.routes().clear();
    }

    /// The saved tasks of this runner, each as `(task id, job id, ledger)`; states that cannot
    /// be read are removed with an error log, since nothing could resume them.
    pub async fn saved(&self) -> Result<Vec<(i64, Ulid, Ledger)>, store::StoreError> {
        let mut saved = Vec::new();
        for task in self.store.runner_tasks(&self.runner_id).await? {
            let parsed = parse_task_ref(&task.task_ref);
            match (parsed, Ledger::from_json(task.state)) {
                (Some((task_id, job_id)), Ok(ledger)) => saved.push((task_id, job_id, ledger)),
                (_, ledger) => {
                    tracing::error!(task_ref = %task.task_ref, decodes = ledger.is_ok(), "dropping a saved task state this version cannot read");
                    if let Err(error) = self.store.remove_runner_task(&self.runner_id, &task.task_ref).await {
                        tracing::warn!(error = %crate::error_chain(&error), "could not remove the state");
                    }
                }
            }
        }
        Ok(saved)
    }

    /// Runs one fetched task to its reported end. Returns its result as reported, or `None` when
    /// the report detached (shutdown) or the forge stopped taking it.
    pub async fn run_task(&self, task: TaskInput, settings: &TranslateSettings<'_>) -> Option<TaskResult> {
        let _running = telemetry::runner::Running::start(FORGE);
        let now = OffsetDateTime::now_utc();
        let translated = match translate(&task, settings) {
            Ok(translated) => translated,
            Err(error) => {
                tracing::warn!(task = task.id, %error, "the task cannot run; failing it");
                let mut ledger = Ledger::new(task.id, 0);
                ledger.fail(now, &error.to_string(), TaskResult::Failure);
                return self.report_closed(ledger, None).await;
            }
        };
        let job_id = translated.request.job_id;
        let mut ledger = Ledger::new(task.id, translated.step_count);
        ledger.set_secrets(translated.masks.iter().map(|mask| mask.expose().to_owned()).collect());
        ledger.note_setup(
            now,
            &format!("solstice: job {job_id} goes to an orchestrator serving {}", translated.request.route_label),
        );
        let key = task_ref(task.id, job_id);
        let mut checkpoint = StoreCheckpoint::new(self.store.clone(), &self.runner_id, &key);
        // Saved before the publish: a runner that dies right after publishing still knows the
        // job when it starts again.
        if let Err(error) = crate::report::Checkpoint::save(&mut checkpoint, &ledger).await {
            tracing::error!(task = task.id, error = %crate::error_chain(&error), "could not save the task's state; failing it");
            ledger.fail(
                now,
                &format!("the runner could not save the task's state: {}", crate::error_chain(&error)),
                TaskResult::Failure,
            );
            return self.report_closed(ledger, None).await;
        }
        // The route exists before the publish, so no early event finds the job unknown.
        let follow = self.route(job_id);
        if let Err(error) = self.publish(&translated.request).await {
            self.routes().remove(&job_id);
            let text = match &error {
                BusError::NoConsumer { label, .. } => format!("no orchestrator serves label {label}"),
                other => format!("the job could not be handed to an orchestrator: {}", crate::error_chain(other)),
            };
            tracing::warn!(task = task.id, %job_id, reason = %text, "failing the task");
            let mut ledger = ledger;
            ledger.fail(OffsetDateTime::now_utc(), &text, TaskResult::Failure);
            return self.report_closed(ledger, Some(key)).await;
        }
        tracing::info!(task = task.id, %job_id, "published the task's job");
        self.follow(ledger, job_id, key, follow).await
    }

    /// Resumes the report of a task saved by an earlier run of this runner.
    ///
    /// Call [`Jobs::prepare_resume`] for every saved task before consuming events: its route
    /// must exist when the job's redelivered events arrive, or they would be dropped as unknown.
    pub async fn resume(&self, resume: Resume) -> Option<TaskResult> {
        let _running = telemetry::runner::Running::start(FORGE);
        let Resume { task_id, job_id, ledger, follow } = resume;
        tracing::info!(task = task_id, %job_id, "resuming the report of a saved task");
        self.follow(ledger, job_id, task_ref(task_id, job_id), follow).await
    }

    /// Routes a saved task's events to it from now on; [`Jobs::resume`] reports them.
    pub fn prepare_resume(&self, task_id: i64, job_id: Ulid, ledger: Ledger) -> Resume {
        Resume { task_id, job_id, ledger, follow: self.route(job_id) }
    }

    async fn publish(&self, request: &contract::JobRequest) -> Result<(), BusError> {
        let mut delay = Duration::from_secs(1);
        let mut attempt = 1;
        loop {
            match self.bus.publish_job(request).await {
                Ok(()) => return Ok(()),
                Err(error @ BusError::NoConsumer { .. }) => return Err(error),
                Err(error) if attempt < PUBLISH_ATTEMPTS => {
                    tracing::warn!(job_id = %request.job_id, attempt, error = %crate::error_chain(&error), "publishing the job failed; trying again");
                    telemetry::runner::bus_error(FORGE);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(16));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// A task that ended before any event (it could not run): reports the end alone.
    async fn report_closed(&self, ledger: Ledger, saved: Option<String>) -> Option<TaskResult> {
        let task_id = ledger.task_id();
        let (_, events) = mpsc::channel(1);
        let key = saved.clone().unwrap_or_else(|| format!("{task_id}/-"));
        let mut checkpoint =
            NoCheckpoint(saved.map(|key| StoreCheckpoint::new(self.store.clone(), &self.runner_id, &key)));
        let end = Reporter::new(ledger, self.config.clone()).run(&*self.sink, events, &mut checkpoint).await;
        self.ended(task_id, &key, end, checkpoint.0.is_some(), None)
    }

    fn route(&self, job_id: Ulid) -> Follow {
        let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
        let (acks_tx, acks) = mpsc::unbounded_channel();
        let finished = Arc::new(Mutex::new(None));
        self.routes().insert(job_id, Route { events: events_tx, acks: acks_tx, finished: finished.clone() });
        Follow { events, acks, finished }
    }

    async fn follow(&self, ledger: Ledger, job_id: Ulid, key: String, follow: Follow) -> Option<TaskResult> {
        let task_id = ledger.task_id();
        let reporter = Reporter::new(ledger, self.config.clone());
        let (all_done_tx, all_done) = watch::channel(false);
        let acker = tokio::spawn(ack_saved(follow.acks, reporter.saved_mark(), all_done));
        let mut cancel = reporter.cancel_requested();
        let bus = self.bus.clone();
        let canceller = tokio::spawn(async move {
            if let Ok(result) = cancel.wait_for(Option::is_some).await.map(|r| *r) {
                let reason = match result {
                    Some(TaskResult::Cancelled) => "the task was cancelled in Forgejo",
                    _ => "the task was ended in Forgejo",
                };
                tracing::info!(%job_id, reason, "cancelling the job on the bus");
                let cancel = Cancel { job_id, attempt: None, reason: reason.to_owned() };
                if let Err(error) = bus.publish_cancel(&cancel).await {
                    tracing::warn!(%job_id, error = %crate::error_chain(&error), "could not cancel the job on the bus");
                }
            }
        });
        let mut checkpoint = StoreCheckpoint::new(self.store.clone(), &self.runner_id, &key);
        let end = reporter.run(&*self.sink, follow.events, &mut checkpoint).await;
        canceller.abort();
        self.routes().remove(&job_id);
        let finished = matches!(end, Ok(ReportEnd::Finished { .. }));
        // A finished job's remaining deliveries are of no use to anyone; a detached one's stay
        // unacked for the next start.
        let _ = all_done_tx.send(finished);
        drop(all_done_tx);
        let _ = acker.await;
        let job_result = *follow.finished.lock().unwrap_or_else(PoisonError::into_inner);
        self.ended(task_id, &key, end, true, job_result)
    }

    fn ended(
        &self,
        task_id: i64,
        key: &str,
        end: Result<ReportEnd, ReportError>,
        saved: bool,
        job_result: Option<TaskResult>,
    ) -> Option<TaskResult> {
        let (result, remove) = match end {
            Ok(ReportEnd::Finished { result, server_result }) => {
                tracing::info!(task = task_id, ?result, ?server_result, "reported the task's end");
                telemetry::runner::job_ended(FORGE, &format!("{result:?}").to_ascii_lowercase());
                (Some(result), true)
            }
            Ok(ReportEnd::Detached) => {
                tracing::info!(task = task_id, "left the task's report for the next start");
                (None, false)
            }
            Err(ReportError::Unauthenticated(_)) if self.ephemeral => {
                tracing::info!(task = task_id, "the ephemeral registration is gone: the server finished the task");
                (Some(job_result.unwrap_or(TaskResult::Failure)), true)
            }
            Err(error) => {
                tracing::error!(task = task_id, error = %crate::error_chain(&error), "gave up reporting the task");
                telemetry::runner::job_ended(FORGE, "unreported");
                (Some(TaskResult::Failure), true)
            }
        };
        if remove && saved {
            let store = self.store.clone();
            let runner_id = self.runner_id.clone();
            let key = key.to_owned();
            tokio::spawn(async move {
                if let Err(error) = store.remove_runner_task(&runner_id, &key).await {
                    tracing::warn!(task_ref = %key, error = %crate::error_chain(&error), "could not remove the task's saved state");
                }
            });
        }
        result
    }

    /// Hands each event delivery to its task until the consumer fails for good; events of jobs
    /// this runner does not know are acked and dropped.
    pub async fn consume_events(&self, mut consumer: B::EventConsumer) -> BusError {
        loop {
            let delivery = match consumer.next().await {
                Ok(delivery) => delivery,
                Err(error) => return error,
            };
            let event = delivery.payload;
            let mark = Mark { attempt: event.attempt, seq: event.seq };
            let target = {
                let routes = self.routes();
                routes.get(&event.job_id).map(|route| {
                    if let Event::JobFinished { result, .. } = &event.event {
                        *route.finished.lock().unwrap_or_else(PoisonError::into_inner) = Some((*result).into());
                    }
                    (route.events.clone(), route.acks.clone())
                })
            };
            let Some((events, acks)) = target else {
                tracing::debug!(job_id = %event.job_id, seq = event.seq, "dropping an event of a job this runner does not follow");
                if let Err(error) = delivery.acker.ack().await {
                    tracing::debug!(error = %crate::error_chain(&error), "could not ack a dropped event");
                }
                continue;
            };
            if let Err(mpsc::error::SendError((_, acker))) = acks.send((mark, delivery.acker)) {
                // The report ended between the lookup and now.
                let _ = acker.ack().await;
                continue;
            }
            let _ = events.send(event).await;
        }
    }
}

/// A saved task whose events are routed to it, waiting for [`Jobs::resume`].
pub struct Resume {
    task_id: i64,
    job_id: Ulid,
    ledger: Ledger,
    follow: Follow,
}

struct Follow {
    events: mpsc::Receiver<JobEvent>,
    acks: mpsc::UnboundedReceiver<(Mark, Acker)>,
    finished: Arc<Mutex<Option<TaskResult>>>,
}

/// Acks each of a job's deliveries once the saved mark reaches it; when the report finished,
/// acks the rest too.
async fn ack_saved(
    mut acks: mpsc::UnboundedReceiver<(Mark, Acker)>,
    mut saved: watch::Receiver<Option<Mark>>,
    mut done: watch::Receiver<bool>,
) {
    let mut pending: VecDeque<(Mark, Acker)> = VecDeque::new();
    let mut saved_open = true;
    loop {
        let mark = *saved.borrow_and_update();
        // Deliveries arrive in publish order, so the saved ones are at the front; a redelivered
        // older event may sit behind a newer one, hence the full scan.
        let mut keep = VecDeque::new();
        for (event_mark, acker) in pending.drain(..) {
            if mark.is_some_and(|mark| event_mark <= mark) {
                settle(acker).await;
            } else {
                keep.push_back((event_mark, acker));
            }
        }
        pending = keep;
        tokio::select! {
            received = acks.recv() => match received {
                Some(entry) => pending.push_back(entry),
                None => {
                    // The route went with the report's end; `done` says how it ended.
                    let _ = done.changed().await;
                    break;
                }
            },
            changed = saved.changed(), if saved_open => saved_open = changed.is_ok(),
            changed = done.changed() => {
                if changed.is_err() || *done.borrow() {
                    break;
                }
            }
        }
    }
    if *done.borrow() {
        acks.close();
        while let Some((_, acker)) = acks.recv().await {
            pending.push_back((Mark { attempt: 0, seq: 0 }, acker));
        }
        for (_, acker) in pending {
            settle(acker).await;
        }
    }
}

async fn settle(acker: Acker) {
    if let Err(error) = acker.ack().await {
        tracing::warn!(error = %crate::error_chain(&error), "could not ack an event");
    }
}

/// A checkpoint that saves only when there is saved state to keep current.
struct NoCheckpoint(Option<StoreCheckpoint>);

#[async_trait::async_trait]
impl crate::report::Checkpoint for NoCheckpoint {
    async fn save(&mut self, ledger: &Ledger) -> Result<(), crate::report::CheckpointError> {
        match &mut self.0 {
            Some(checkpoint) => checkpoint.save(ledger).await,
            None => Ok(()),
        }
    }
}
