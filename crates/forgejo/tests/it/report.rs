//! Reporting: events in, rows and step states out, checked against a fake that keeps the task
//! the way Forgejo does (forgejo.md §3.6, §3.7) and shows it the way its UI cuts it (§4).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use contract::{Event, JobEvent, Outcome, Section};
use forgejo::report::{
    Applied, Checkpoint, CheckpointError, Ledger, MAX_ROW_BYTES, Mark, ReportConfig, ReportEnd, ReportError, Reporter,
    Row, SinkError, StepView, StoreCheckpoint, TaskAnswer, TaskResult, TaskSink, TaskStateView,
};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use ulid::Ulid;

const TASK: i64 = 41;

// ---------------------------------------------------------------------------------------------
// The fake Forgejo.

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Log { index: i64, rows: usize, no_more: bool, ack: i64 },
    Task { result: TaskResult, outputs: Vec<String> },
    Failed,
}

#[derive(Debug, Default)]
struct Server {
    rows: Vec<String>,
    archived: bool,
    /// The log was archived by an UpdateLog that wrote rows with `no_more`.
    archived_by_no_more: bool,
    steps: Vec<StepView>,
    result: TaskResult,
    outputs: BTreeMap<String, String>,
    calls: Vec<(Instant, Call)>,
    /// Every call fails as unavailable until then.
    down_until: Option<Instant>,
    /// The next this many calls fail.
    fail_calls: u32,
    /// A user cancels the task when this many UpdateTask calls have been answered.
    cancel_after_updates: Option<usize>,
    /// This output key is not stored the first time it arrives.
    forget_output_once: Option<String>,
    /// The runner was deleted: every call is refused.
    runner_deleted: bool,
}

struct FakeForgejo {
    server: Mutex<Server>,
    changed: watch::Sender<u64>,
}

impl FakeForgejo {
    fn new() -> Arc<FakeForgejo> {
        Arc::new(FakeForgejo { server: Mutex::new(Server::default()), changed: watch::Sender::new(0) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Server) -> T) -> T {
        let mut server = self.server.lock().unwrap();
        f(&mut server)
    }

    fn refusing(&self, server: &Server) -> Result<(), SinkError> {
        if server.runner_deleted {
            return Err(SinkError::Unauthenticated("unregistered runner".into()));
        }
        Ok(())
    }

    fn failing(&self, server: &mut Server) -> bool {
        let down = server.down_until.is_some_and(|until| Instant::now() < until);
        let fail = down || server.fail_calls > 0;
        if !down && server.fail_calls > 0 {
            server.fail_calls -= 1;
        }
        if fail {
            server.calls.push((Instant::now(), Call::Failed));
        }
        fail
    }

    fn bump(&self) {
        self.changed.send_modify(|version| *version += 1);
    }

    /// Waits (bounded) until `done` holds for the server's state.
    async fn wait_until(&self, what: &str, done: impl Fn(&Server) -> bool) {
        let mut changed = self.changed.subscribe();
        let wait = async {
            loop {
                if self.with(|server| done(server)) {
                    return;
                }
                changed.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(600), wait).await.unwrap_or_else(|_| panic!("never saw: {what}"));
    }

    fn ui(&self) -> Ui {
        self.with(|server| Ui::of(server))
    }
}

#[async_trait]
impl TaskSink for FakeForgejo {
    async fn update_log(&self, task_id: i64, index: i64, rows: &[Row], no_more: bool) -> Result<i64, SinkError> {
        assert_eq!(task_id, TASK);
        let answer = self.with(|server| {
            self.refusing(server)?;
            if self.failing(server) {
                return Err(SinkError::Transient("503 Service Unavailable".into()));
            }
            let ack = server.rows.len() as i64;
            let written = if rows.is_empty() || index > ack || index + rows.len() as i64 <= ack {
                false
            } else if server.archived {
                return Err(SinkError::LogArchived);
            } else {
                for row in &rows[(ack - index) as usize..] {
                    assert!(!row.content.contains('\n'), "a row holds a line break: {:?}", row.content);
                    assert!(row.content.len() <= MAX_ROW_BYTES, "a row of {} bytes", row.content.len());
                    server.rows.push(row.content.clone());
                }
                true
            };
            if written && no_more {
                server.archived = true;
                server.archived_by_no_more = true;
            }
            let ack = server.rows.len() as i64;
            server.calls.push((Instant::now(), Call::Log { index, rows: rows.len(), no_more, ack }));
            Ok(ack)
        });
        self.bump();
        answer
    }

    async fn update_task(
        &self,
        state: &TaskStateView,
        outputs: &BTreeMap<String, String>,
    ) -> Result<TaskAnswer, SinkError> {
        assert_eq!(state.id, TASK);
        let answer = self.with(|server| {
            self.refusing(server)?;
            if self.failing(server) {
                return Err(SinkError::Transient("connection reset".into()));
            }
            let updates = server.calls.iter().filter(|(_, call)| matches!(call, Call::Task { .. })).count();
            if server.cancel_after_updates == Some(updates) && !server.result.is_final() {
                server.result = TaskResult::Cancelled;
            }
            server.calls.push((
                Instant::now(),
                Call::Task { result: state.result, outputs: outputs.keys().cloned().collect() },
            ));
            if !server.result.is_final() {
                server.result = state.result;
                server.steps = state.steps.clone();
                for (key, value) in outputs {
                    if server.forget_output_once.as_ref() == Some(key) {
                        server.forget_output_once = None;
                        continue;
                    }
                    server.outputs.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            Ok(TaskAnswer { result: server.result, sent_outputs: server.outputs.keys().cloned().collect() })
        });
        self.bump();
        answer
    }
}

/// What Forgejo's UI shows (`FullSteps`): "Set up job", each step by its range, "Complete job"
/// when it has a range.
#[derive(Debug)]
struct Ui {
    setup: Vec<String>,
    steps: Vec<(Status, Vec<String>)>,
    complete: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Done(TaskResult),
}

impl Ui {
    fn of(server: &Server) -> Ui {
        let status = |step: &StepView| {
            if step.result.is_final() {
                Status::Done(step.result)
            } else if step.started_at.is_some() {
                Status::Running
            } else {
                Status::Waiting
            }
        };
        let has_run = |step: &StepView| matches!(status(step), Status::Done(TaskResult::Success | TaskResult::Failure));
        let range = |from: i64, length: i64| {
            let from = (from.max(0) as usize).min(server.rows.len());
            let to = (from + length.max(0) as usize).min(server.rows.len());
            server.rows[from..to].to_vec()
        };
        let first = server.steps.iter().find(|step| has_run(step) || status(step) == Status::Running);
        let last_run = server.steps.iter().rev().find(|step| has_run(step));
        let setup_len = first.map_or(server.rows.len() as i64, |step| step.log_index);
        let complete_from = setup_len + server.steps.iter().map(|step| step.log_length).sum::<i64>();
        let complete_open = match last_run {
            Some(step) => step.result == TaskResult::Failure || Some(step) == server.steps.last(),
            // "Set up job" stands for the last step that ran; it fails when the task did.
            None => first.is_none() && server.result == TaskResult::Failure,
        };
        Ui {
            setup: range(0, setup_len),
            steps: server.steps.iter().map(|step| (status(step), range(step.log_index, step.log_length))).collect(),
            complete: complete_open.then(|| range(complete_from, server.rows.len() as i64 - complete_from)),
        }
    }

    /// Every row is shown exactly once, in order.
    fn shows_every_row_of(&self, server_rows: &[String]) {
        let mut shown = self.setup.clone();
        for (_, rows) in &self.steps {
            shown.extend(rows.iter().cloned());
        }
        shown.extend(self.complete.clone().unwrap_or_default());
        assert_eq!(shown, server_rows, "the UI's sections do not add up to the log");
    }

    fn step(&self, index: usize) -> (Status, Vec<&str>) {
        let (status, rows) = &self.steps[index];
        (*status, rows.iter().map(String::as_str).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Driving a reporter.

/// Events of one job attempt, numbered as the orchestrator numbers them.
struct Job {
    id: Ulid,
    attempt: u32,
    seq: u64,
}

impl Job {
    fn new() -> Job {
        Job { id: Ulid::new(), attempt: 1, seq: 0 }
    }

    fn event(&mut self, event: Event) -> JobEvent {
        self.seq += 1;
        let at = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + self.seq);
        JobEvent { job_id: self.id, attempt: self.attempt, seq: self.seq, at, event }
    }
}

fn log(section: Section, lines: &[&str]) -> Event {
    Event::Log { section, first_line: 1, lines: lines.iter().map(|line| line.to_string()).collect() }
}

fn started(index: u32) -> Event {
    Event::StepStarted { index, name: format!("step {index}") }
}

fn finished(index: u32, outcome: Outcome) -> Event {
    step_finished(index, outcome, outcome)
}

fn step_finished(index: u32, outcome: Outcome, conclusion: Outcome) -> Event {
    Event::StepFinished { index, name: format!("step {index}"), outcome, conclusion, outputs: BTreeMap::new() }
}

fn job_finished(result: Outcome) -> Event {
    Event::JobFinished { result, outputs: BTreeMap::new(), error: None }
}

/// Keeps the last saved state, as the store would.
#[derive(Clone, Default)]
struct MemoryCheckpoint(Arc<Mutex<Option<serde_json::Value>>>);

#[async_trait]
impl Checkpoint for MemoryCheckpoint {
    async fn save(&mut self, ledger: &Ledger) -> Result<(), CheckpointError> {
        let json = ledger.to_json().map_err(CheckpointError::Encode)?;
        *self.0.lock().unwrap() = Some(json);
        Ok(())
    }
}

impl MemoryCheckpoint {
    fn restore(&self) -> Ledger {
        Ledger::from_json(self.0.lock().unwrap().clone().expect("a saved state")).unwrap()
    }
}

struct Running {
    events: mpsc::Sender<JobEvent>,
    cancel: watch::Receiver<Option<TaskResult>>,
    saved: watch::Receiver<Option<Mark>>,
    checkpoint: MemoryCheckpoint,
    end: JoinHandle<Result<ReportEnd, ReportError>>,
}

fn start(fake: &Arc<FakeForgejo>, ledger: Ledger) -> Running {
    start_with(fake, ledger, MemoryCheckpoint::default(), ReportConfig::default())
}

fn start_with(fake: &Arc<FakeForgejo>, ledger: Ledger, checkpoint: MemoryCheckpoint, config: ReportConfig) -> Running {
    let reporter = Reporter::new(ledger, config);
    let (events, receiver) = mpsc::channel(64);
    let cancel = reporter.cancel_requested();
    let saved = reporter.saved_mark();
    let sink = fake.clone();
    let mut kept = checkpoint.clone();
    let end = tokio::spawn(async move { reporter.run(&*sink, receiver, &mut kept).await });
    Running { events, cancel, saved, checkpoint, end }
}

impl Running {
    async fn send(&self, events: impl IntoIterator<Item = JobEvent>) {
        for event in events {
            self.events.send(event).await.unwrap();
        }
    }

    async fn end(self) -> ReportEnd {
        drop(self.events);
        self.end.await.unwrap().unwrap()
    }
}

/// The calls after the job's end: the last UpdateLog wrote rows with `no_more`, was answered
/// with every row, and came before the final UpdateTask, which is the last call.
fn assert_final_order(server: &Server) {
    let calls: Vec<&Call> = server.calls.iter().map(|(_, call)| call).filter(|call| **call != Call::Failed).collect();
    let last = calls.last().expect("calls");
    assert!(matches!(last, Call::Task { result, .. } if result.is_final()), "last call is {last:?}");
    let final_log = calls
        .iter()
        .rev()
        .find_map(|call| match call {
            Call::Log { no_more: true, rows, ack, .. } => Some((*rows, *ack)),
            _ => None,
        })
        .expect("an UpdateLog with no_more");
    assert!(final_log.0 >= 1 && final_log.1 == server.rows.len() as i64, "final UpdateLog {final_log:?}");
    assert!(server.archived_by_no_more, "no_more never took effect");
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test(start_paused = true)]
async fn a_job_shows_setup_steps_and_completion_in_their_places() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let mut ledger = Ledger::new(TASK, 2);
    ledger.note_setup(OffsetDateTime::now_utc(), "runner test took task 41");
    let run = start(&fake, ledger);
    let accepted = job.event(Event::Accepted { orchestrator: "orch-1".into() });
    run.send([accepted.clone()]).await;
    run.send([
        // Redelivered by the bus: dropped.
        accepted,
        job.event(Event::VmBooting { label: "linux-test".into() }),
        job.event(Event::VmReady { label: "linux-test".into() }),
        job.event(log(Section::Setup, &["agent ready"])),
        job.event(started(0)),
        job.event(log(Section::Step(0), &["hello", "world"])),
        job.event(finished(0, Outcome::Success)),
        job.event(started(1)),
        job.event(log(Section::Step(1), &["building"])),
        job.event(Event::Heartbeat),
        job.event(finished(1, Outcome::Success)),
        job.event(log(Section::Complete, &["cleaning up"])),
        job.event(job_finished(Outcome::Success)),
    ])
    .await;
    let end = run.end().await;
    assert_eq!(end, ReportEnd::Finished { result: TaskResult::Success, server_result: TaskResult::Success });

    let ui = fake.ui();
    let job_id = job.id;
    assert_eq!(
        ui.setup,
        [
            "runner test took task 41".to_owned(),
            format!("solstice job {job_id} attempt 1 taken by orch-1"),
            "vm booting linux-test".to_owned(),
            "vm ready linux-test after 1.0 s".to_owned(),
            "agent ready".to_owned(),
        ]
    );
    assert_eq!(ui.step(0), (Status::Done(TaskResult::Success), vec!["hello", "world"]));
    assert_eq!(ui.step(1), (Status::Done(TaskResult::Success), vec!["building"]));
    assert_eq!(ui.complete.as_deref(), Some(&["cleaning up".to_owned(), "Job succeeded".to_owned()][..]));
    fake.with(|server| {
        ui.shows_every_row_of(&server.rows);
        assert_eq!(server.result, TaskResult::Success);
        assert_final_order(server);
    });
}

#[tokio::test(start_paused = true)]
async fn a_skipped_step_has_an_empty_range_where_it_would_be() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 3));
    run.send([
        job.event(log(Section::Setup, &["setting up"])),
        job.event(started(0)),
        job.event(log(Section::Step(0), &["zero"])),
        job.event(finished(0, Outcome::Success)),
        job.event(finished(1, Outcome::Skipped)),
        job.event(started(2)),
        job.event(log(Section::Step(2), &["two"])),
        job.event(finished(2, Outcome::Success)),
        job.event(job_finished(Outcome::Success)),
    ])
    .await;
    run.end().await;

    let ui = fake.ui();
    assert_eq!(ui.step(0), (Status::Done(TaskResult::Success), vec!["zero"]));
    assert_eq!(ui.step(1), (Status::Done(TaskResult::Skipped), vec![]));
    assert_eq!(ui.step(2), (Status::Done(TaskResult::Success), vec!["two"]));
    fake.with(|server| {
        let skipped = &server.steps[1];
        assert_eq!((skipped.log_index, skipped.log_length), (2, 0), "at the current position");
        assert_eq!(skipped.started_at, None);
        assert_eq!(server.steps[2].log_index, 2);
        ui.shows_every_row_of(&server.rows);
    });
}

#[tokio::test(start_paused = true)]
async fn a_step_that_continued_on_error_shows_failed_while_the_job_succeeds() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 2));
    run.send([
        job.event(started(0)),
        job.event(log(Section::Step(0), &["##[error]it broke"])),
        job.event(step_finished(0, Outcome::Failure, Outcome::Success)),
        job.event(started(1)),
        job.event(log(Section::Step(1), &["still here"])),
        job.event(finished(1, Outcome::Success)),
        job.event(job_finished(Outcome::Success)),
    ])
    .await;
    run.end().await;
    let ui = fake.ui();
    assert_eq!(ui.step(0), (Status::Done(TaskResult::Failure), vec!["##[error]it broke"]));
    assert_eq!(ui.step(1), (Status::Done(TaskResult::Success), vec!["still here"]));
    assert_eq!(ui.complete.as_deref(), Some(&["Job succeeded".to_owned()][..]));
    fake.with(|server| assert_eq!(server.result, TaskResult::Success));
}

#[tokio::test(start_paused = true)]
async fn outputs_are_resent_until_the_server_has_them() {
    let fake = FakeForgejo::new();
    fake.with(|server| server.forget_output_once = Some("version".into()));
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    let outputs = BTreeMap::from([("sha".to_owned(), "abc".to_owned()), ("version".to_owned(), "1.2".to_owned())]);
    let mut with_a_huge_one = outputs.clone();
    with_a_huge_one.insert("huge".into(), "x".repeat(1024 * 1024 + 1));
    run.send([
        job.event(finished(0, Outcome::Success)),
        job.event(Event::JobFinished { result: Outcome::Success, outputs: with_a_huge_one, error: None }),
    ])
    .await;
    run.end().await;
    fake.with(|server| {
        assert_eq!(server.outputs, outputs);
        let sends = |key: &str| {
            server
                .calls
                .iter()
                .filter(|(_, call)| matches!(call, Call::Task { outputs, .. } if outputs.iter().any(|k| k == key)))
                .count()
        };
        assert_eq!(sends("sha"), 1, "an acknowledged output is not sent again");
        assert_eq!(sends("version"), 2, "a forgotten output is sent again");
        assert_eq!(sends("huge"), 0, "an output Forgejo would ignore is not sent");
        assert_eq!(
            server.rows,
            ["Output huge is not sent: Forgejo takes keys up to 255 bytes and values up to 1 MiB.", "Job succeeded"]
        );
        assert_final_order(server);
    });
}

#[tokio::test(start_paused = true)]
async fn multi_line_long_and_lossy_content_become_valid_rows() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    let long = "é".repeat(MAX_ROW_BYTES); // two bytes each: two rows' worth
    let lossy = String::from_utf8_lossy(b"bad \xff\xfe byte").into_owned();
    run.send([
        job.event(started(0)),
        job.event(log(Section::Step(0), &["one\ntwo\r", &long, &lossy, ""])),
        job.event(finished(0, Outcome::Success)),
        job.event(job_finished(Outcome::Success)),
    ])
    .await;
    run.end().await;
    let ui = fake.ui();
    let (_, rows) = ui.step(0);
    assert_eq!(rows[..2], ["one", "two"]);
    assert_eq!(rows[2..4].concat(), long, "a long line continues on the next row, nothing cut");
    assert!(rows[2].len() <= MAX_ROW_BYTES && rows[3].len() <= MAX_ROW_BYTES);
    assert_eq!(rows[4..], ["bad \u{fffd}\u{fffd} byte", ""]);

    let at = OffsetDateTime::UNIX_EPOCH;
    let from_bytes: Vec<String> =
        forgejo::report::rows_from_bytes(at, b"a\xc3(b\nc\n").into_iter().map(|row| row.content).collect();
    assert_eq!(from_bytes, ["a\u{fffd}(b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn late_and_unattributed_lines_do_not_break_the_ranges() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 2));
    run.send([
        job.event(log(Section::Setup, &["setup"])),
        job.event(started(0)),
        job.event(log(Section::Step(0), &["zero"])),
        job.event(finished(0, Outcome::Success)),
        // Still the last range in the log: it grows.
        job.event(log(Section::Step(0), &["zero's trailing line"])),
        // A setup line once steps ran, and a job-level annotation between steps.
        job.event(log(Section::Setup, &["late setup"])),
        job.event(Event::Annotation(contract::Annotation {
            level: contract::AnnotationLevel::Warning,
            message: "disk almost full".into(),
            step: None,
            title: None,
            file: None,
            line: None,
            end_line: None,
            col: None,
            end_column: None,
        })),
        job.event(started(1)),
        job.event(log(Section::Step(1), &["one"])),
        // Step 0 after step 1 began: its range can no longer grow.
        job.event(log(Section::Step(0), &["zero, very late"])),
        job.event(log(Section::Step(1), &["one again"])),
        job.event(finished(1, Outcome::Success)),
        job.event(log(Section::Complete, &["done"])),
        job.event(job_finished(Outcome::Success)),
    ])
    .await;
    run.end().await;
    let ui = fake.ui();
    assert_eq!(ui.setup, ["setup"]);
    assert_eq!(ui.step(0), (Status::Done(TaskResult::Success), vec!["zero", "zero's trailing line"]));
    assert_eq!(ui.step(1), (Status::Done(TaskResult::Success), vec!["one", "one again"]));
    assert_eq!(
        ui.complete.unwrap(),
        ["[Set up job] late setup", "##[warning]disk almost full", "[step 0] zero, very late", "done", "Job succeeded"]
    );
    fake.with(|server| Ui::of(server).shows_every_row_of(&server.rows));
}

#[tokio::test(start_paused = true)]
async fn rows_survive_a_forge_outage_in_order() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    run.send([job.event(started(0)), job.event(log(Section::Step(0), &["before"]))]).await;
    fake.wait_until("the first line", |server| server.rows.len() == 1).await;

    // 503 for 20 s while the step keeps writing, one line a second.
    fake.with(|server| server.down_until = Some(Instant::now() + Duration::from_secs(20)));
    let mut expected = vec!["before".to_owned()];
    for second in 0..25 {
        let line = format!("line {second}");
        run.send([job.event(log(Section::Step(0), &[&line]))]).await;
        expected.push(line);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    run.send([job.event(finished(0, Outcome::Success)), job.event(job_finished(Outcome::Success))]).await;
    run.end().await;

    let ui = fake.ui();
    assert_eq!(ui.step(0).1, expected.iter().map(String::as_str).collect::<Vec<_>>());
    expected.push("Job succeeded".into());
    fake.with(|server| {
        assert_eq!(server.rows, expected, "every row once, in order");
        assert!(server.calls.iter().filter(|(_, call)| *call == Call::Failed).count() >= 5, "the outage was felt");
        assert_final_order(server);
    });
}

#[tokio::test(start_paused = true)]
async fn the_final_rows_are_retried_before_the_final_state() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    run.send([job.event(started(0)), job.event(log(Section::Step(0), &["work"]))]).await;
    fake.wait_until("the step's line", |server| server.rows.len() == 1).await;
    fake.with(|server| server.fail_calls = 3);
    run.send([job.event(finished(0, Outcome::Success)), job.event(job_finished(Outcome::Success))]).await;
    run.end().await;
    fake.with(|server| {
        assert_eq!(server.rows, ["work", "Job succeeded"]);
        assert_final_order(server);
        let first_final_task = server
            .calls
            .iter()
            .position(|(_, call)| matches!(call, Call::Task { result, .. } if result.is_final()))
            .unwrap();
        let acked_log =
            server.calls.iter().position(|(_, call)| matches!(call, Call::Log { no_more: true, ack: 2, .. }));
        assert!(acked_log.is_some_and(|log| log < first_final_task));
    });
}

#[tokio::test(start_paused = true)]
async fn a_cancel_on_the_forge_is_signalled_and_the_end_still_reported() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 2));
    run.send([job.event(started(0)), job.event(log(Section::Step(0), &["sleeping"]))]).await;
    fake.wait_until("the step running", |server| server.rows.len() == 1).await;
    // The user presses "Cancel".
    fake.with(|server| server.result = TaskResult::Cancelled);

    let mut cancel = run.cancel.clone();
    let signalled = tokio::time::timeout(Duration::from_secs(10), cancel.wait_for(Option::is_some)).await;
    assert_eq!(*signalled.expect("a cancel signal").unwrap(), Some(TaskResult::Cancelled));

    run.send([
        job.event(log(Section::Step(0), &["Terminated"])),
        job.event(finished(0, Outcome::Cancelled)),
        job.event(log(Section::Complete, &["vm stopped"])),
        job.event(job_finished(Outcome::Cancelled)),
    ])
    .await;
    let end = run.end().await;
    assert_eq!(end, ReportEnd::Finished { result: TaskResult::Cancelled, server_result: TaskResult::Cancelled });
    fake.with(|server| {
        assert_eq!(server.rows, ["sleeping", "Terminated", "vm stopped", "Job was cancelled"]);
        assert_final_order(server);
    });
}

#[tokio::test(start_paused = true)]
async fn a_cancel_the_job_never_answers_is_reported_after_the_grace() {
    let fake = FakeForgejo::new();
    fake.with(|server| server.cancel_after_updates = Some(1));
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    run.send([job.event(started(0))]).await;
    // The orchestrator keeps the job alive but never ends it.
    let mut cancel = run.cancel.clone();
    tokio::time::timeout(Duration::from_secs(10), cancel.wait_for(Option::is_some)).await.unwrap().unwrap();
    let events = run.events.clone();
    let heartbeats = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            if events.send(job.event(Event::Heartbeat)).await.is_err() {
                return;
            }
        }
    });
    let end = run.end.await.unwrap().unwrap();
    heartbeats.abort();
    assert_eq!(end, ReportEnd::Finished { result: TaskResult::Cancelled, server_result: TaskResult::Cancelled });
    fake.with(|server| {
        let last = server.rows.last().unwrap();
        assert_eq!(last, "Job was cancelled");
        assert!(server.rows.iter().any(|row| row.contains("did not end within 120 s of the cancel")));
    });
}

#[tokio::test(start_paused = true)]
async fn a_silent_orchestrator_fails_the_task_after_60_s() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 2));
    let began = Instant::now();
    run.send([job.event(started(0)), job.event(log(Section::Step(0), &["working"]))]).await;
    // Nothing more arrives; the sender stays open.
    let events = run.events.clone();
    let end = run.end.await.unwrap().unwrap();
    drop(events);
    assert_eq!(end, ReportEnd::Finished { result: TaskResult::Failure, server_result: TaskResult::Failure });
    assert!(began.elapsed() >= Duration::from_secs(60) && began.elapsed() < Duration::from_secs(70));
    let ui = fake.ui();
    assert_eq!(ui.step(0), (Status::Done(TaskResult::Cancelled), vec!["working"]));
    assert_eq!(ui.step(1).0, Status::Done(TaskResult::Cancelled));
    fake.with(|server| {
        assert_eq!(server.result, TaskResult::Failure);
        let n = server.rows.len();
        assert!(server.rows[n - 2].contains("heartbeats stopped"), "{:?}", server.rows);
        assert_eq!(server.rows[n - 1], "Job failed");
        assert_final_order(server);
        // Meanwhile the runner kept Forgejo's view of it alive.
        let updates: Vec<Instant> =
            server.calls.iter().filter(|(_, call)| matches!(call, Call::Task { .. })).map(|(at, _)| *at).collect();
        let widest = updates.windows(2).map(|pair| pair[1] - pair[0]).max().unwrap();
        assert!(widest <= Duration::from_secs(3), "UpdateTask gap of {widest:?}");
    });
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_quiet_job_running() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    run.send([job.event(started(0))]).await;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(15)).await;
        run.send([job.event(Event::Heartbeat)]).await;
    }
    run.send([job.event(finished(0, Outcome::Success)), job.event(job_finished(Outcome::Success))]).await;
    assert_eq!(
        run.end().await,
        ReportEnd::Finished { result: TaskResult::Success, server_result: TaskResult::Success }
    );
}

#[tokio::test(start_paused = true)]
async fn steps_without_a_result_end_cancelled_or_skipped_and_the_error_is_shown() {
    // A job that failed mid-step, with an error text that holds a secret.
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let mut ledger = Ledger::new(TASK, 3);
    ledger.set_secrets(vec!["hunter2".into()]);
    let run = start(&fake, ledger);
    run.send([
        job.event(started(0)),
        job.event(log(Section::Step(0), &["zero"])),
        job.event(finished(0, Outcome::Success)),
        job.event(started(1)),
        job.event(Event::JobFinished {
            result: Outcome::Failure,
            outputs: BTreeMap::new(),
            error: Some("the VM died\nlast words: password hunter2".into()),
        }),
    ])
    .await;
    run.end().await;
    let ui = fake.ui();
    assert_eq!(ui.step(1).0, Status::Done(TaskResult::Cancelled));
    assert_eq!(ui.step(2).0, Status::Done(TaskResult::Cancelled));
    fake.with(|server| {
        assert_eq!(server.rows, ["zero", "the VM died", "last words: password ***", "Job failed"]);
        assert_eq!(server.result, TaskResult::Failure);
    });

    // A job whose `if` was false: every step skipped.
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 2));
    run.send([job.event(job_finished(Outcome::Skipped))]).await;
    run.end().await;
    fake.with(|server| {
        assert!(server.steps.iter().all(|step| step.result == TaskResult::Skipped));
        assert_eq!(server.result, TaskResult::Skipped);
        assert_eq!(server.rows, ["Job was skipped"]);
    });
}

#[tokio::test(start_paused = true)]
async fn a_restarted_runner_resumes_without_losing_or_duplicating_rows() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    // Saving waits for a timer once any row is unacknowledged: the slow path, where the mark
    // lags the events.
    let lazy = ReportConfig { save_eager_bytes: 0, ..ReportConfig::default() };
    let first = start_with(&fake, Ledger::new(TASK, 2), MemoryCheckpoint::default(), lazy.clone());
    first
        .send([
            job.event(log(Section::Setup, &["setup"])),
            job.event(started(0)),
            job.event(log(Section::Step(0), &["a", "b"])),
        ])
        .await;
    fake.wait_until("the first rows", |server| server.rows.len() == 3).await;
    // The forge goes away; more lines arrive and are saved but not sent.
    fake.with(|server| server.down_until = Some(Instant::now() + Duration::from_secs(3600)));
    let unacked = [job.event(log(Section::Step(0), &["c"])), job.event(finished(0, Outcome::Success))];
    first.send(unacked.clone()).await;
    let mut saved = first.saved.clone();
    let want = Mark { attempt: 1, seq: job.seq };
    saved.wait_for(|mark| *mark == Some(want)).await.unwrap();
    let checkpoint = first.checkpoint.clone();
    // The runner is killed: its events channel goes with it.
    first.end.abort();
    let _ = first.end.await;

    // Back up; the forge is too. The bus redelivers what was not acked: here, the last two events.
    fake.with(|server| server.down_until = None);
    let ledger = checkpoint.restore();
    assert_eq!(ledger.mark(), Some(want));
    let second = start_with(&fake, ledger, checkpoint, lazy);
    second.send(unacked).await;
    second
        .send([
            job.event(started(1)),
            job.event(log(Section::Step(1), &["d"])),
            job.event(finished(1, Outcome::Success)),
            job.event(job_finished(Outcome::Success)),
        ])
        .await;
    assert_eq!(
        second.end().await,
        ReportEnd::Finished { result: TaskResult::Success, server_result: TaskResult::Success }
    );
    let ui = fake.ui();
    assert_eq!(ui.setup, ["setup"]);
    assert_eq!(ui.step(0), (Status::Done(TaskResult::Success), vec!["a", "b", "c"]));
    assert_eq!(ui.step(1), (Status::Done(TaskResult::Success), vec!["d"]));
    fake.with(|server| {
        assert_eq!(server.rows, ["setup", "a", "b", "c", "d", "Job succeeded"]);
        assert_final_order(server);
    });
}

#[tokio::test(start_paused = true)]
async fn a_line_is_inside_its_step_range_on_the_forge_within_300_ms() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    run.send([job.event(started(0))]).await;
    let mut worst = Duration::ZERO;
    for n in 0..20 {
        tokio::time::sleep(Duration::from_millis(37 * n % 500)).await;
        let line = format!("line {n}");
        let sent = Instant::now();
        run.send([job.event(log(Section::Step(0), &[&line]))]).await;
        fake.wait_until("the line in its step's range", |server| {
            Ui::of(server).steps.first().is_some_and(|(_, rows)| rows.contains(&line))
        })
        .await;
        worst = worst.max(sent.elapsed());
    }
    assert!(worst <= Duration::from_millis(300), "slowest line took {worst:?}");
    run.send([job.event(finished(0, Outcome::Success)), job.event(job_finished(Outcome::Success))]).await;
    run.end().await;
}

#[tokio::test(start_paused = true)]
async fn a_deleted_runner_ends_the_report_with_an_error() {
    let fake = FakeForgejo::new();
    fake.with(|server| server.runner_deleted = true);
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    run.send([job.event(started(0))]).await;
    let error = run.end.await.unwrap().unwrap_err();
    assert!(matches!(error, ReportError::Unauthenticated(_)), "{error:?}");
    assert_eq!(error.to_string(), "report the task: the forge no longer accepts this runner");
}

#[tokio::test(start_paused = true)]
async fn an_archived_log_stops_the_rows_but_not_the_state() {
    let fake = FakeForgejo::new();
    fake.with(|server| server.archived = true);
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    run.send([
        job.event(started(0)),
        job.event(log(Section::Step(0), &["nobody sees this"])),
        job.event(finished(0, Outcome::Success)),
        job.event(job_finished(Outcome::Success)),
    ])
    .await;
    assert_eq!(
        run.end().await,
        ReportEnd::Finished { result: TaskResult::Success, server_result: TaskResult::Success }
    );
    fake.with(|server| {
        assert!(server.rows.is_empty());
        assert_eq!(server.steps[0].result, TaskResult::Success);
        assert_eq!(server.result, TaskResult::Success);
    });
}

#[test]
fn duplicates_and_older_attempts_are_dropped_and_gaps_noted() {
    let mut job = Job::new();
    let mut ledger = Ledger::new(TASK, 1);
    let first = job.event(started(0));
    let second = job.event(log(Section::Step(0), &["two"]));
    let third = job.event(log(Section::Step(0), &["three"]));
    assert_eq!(ledger.apply(&first), Applied::Taken);
    assert_eq!(ledger.apply(&third), Applied::Gap { expected: 2 });
    assert_eq!(ledger.apply(&second), Applied::Duplicate);
    assert_eq!(ledger.apply(&third), Applied::Duplicate);
    assert_eq!(ledger.unacked().1.iter().map(|row| row.content.as_str()).collect::<Vec<_>>(), ["three"]);
    let older = JobEvent { attempt: 0, seq: 9, ..second.clone() };
    assert_eq!(ledger.apply(&older), Applied::Stale);
    let other = JobEvent { job_id: Ulid::new(), seq: 4, ..second };
    assert_eq!(ledger.apply(&other), Applied::OtherJob);
    assert_eq!(ledger.mark(), Some(Mark { attempt: 1, seq: 3 }));
}

#[tokio::test]
async fn the_state_is_kept_in_the_store_and_restored_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let store = store::connect(&url).await.unwrap();
    let mut job = Job::new();
    let mut ledger = Ledger::new(TASK, 2);
    ledger.set_secrets(vec!["never-saved".into()]);
    for event in [job.event(started(0)), job.event(log(Section::Step(0), &["one", "two"]))] {
        ledger.apply(&event);
    }
    assert!(ledger.acknowledge(1, OffsetDateTime::UNIX_EPOCH));
    let mut checkpoint = StoreCheckpoint::new(store.clone(), "runner-1", "41");
    checkpoint.save(&ledger).await.unwrap();

    let kept = store.runner_task("runner-1", "41").await.unwrap().expect("a saved state");
    assert!(!kept.state.to_string().contains("never-saved"), "secrets stay out of the database");
    let mut restored = Ledger::from_json(kept.state).unwrap();
    assert_eq!(restored.unacked().0, 1);
    assert_eq!(restored.unacked().1.iter().map(|row| row.content.as_str()).collect::<Vec<_>>(), ["two"]);
    assert_eq!(restored.mark(), Some(Mark { attempt: 1, seq: 2 }));
    restored.set_secrets(vec!["never-saved".into()]);
    assert_eq!(restored, ledger);
    store.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_still_queued_is_not_failed_for_silence() {
    let fake = FakeForgejo::new();
    let mut job = Job::new();
    let run = start(&fake, Ledger::new(TASK, 1));
    // Five minutes in the queue before an orchestrator takes it.
    tokio::time::sleep(Duration::from_secs(300)).await;
    run.send([
        job.event(Event::Accepted { orchestrator: "orch-1".into() }),
        job.event(finished(0, Outcome::Success)),
        job.event(job_finished(Outcome::Success)),
    ])
    .await;
    assert_eq!(
        run.end().await,
        ReportEnd::Finished { result: TaskResult::Success, server_result: TaskResult::Success }
    );
    fake.with(|server| assert!(server.rows.iter().all(|row| !row.contains("heartbeats stopped"))));
}
