//! The fetch loop against a scripted task source, on tokio's paused clock: request keys, tasks
//! version, room, pacing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forgejo::connect::{Code, ConnectError};
use forgejo::fetch::{Assignment, FetchConfig, FetchError, Fetched, Room, TaskSource, fetch_loop};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

/// What the script answers to one FetchTask.
#[derive(Clone, Debug)]
enum Answer {
    Nothing { tasks_version: i64 },
    Task { id: u32, tasks_version: i64 },
    Error(Code),
    Hang,
}

#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Fetch { at: Instant, tasks_version: i64, key: String },
    KeepAlive { at: Instant },
}

impl Seen {
    fn at(&self) -> Instant {
        match self {
            Seen::Fetch { at, .. } | Seen::KeepAlive { at } => *at,
        }
    }
}

/// Answers from a queue (then "nothing new, version 5"), reports every call on a channel and
/// counts calls in flight.
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    seen: mpsc::UnboundedSender<Seen>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl Script {
    fn new(answers: Vec<Answer>) -> (Arc<Script>, mpsc::UnboundedReceiver<Seen>) {
        let (seen, calls) = mpsc::unbounded_channel();
        let script = Script {
            answers: Mutex::new(answers.into()),
            seen,
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        };
        (Arc::new(script), calls)
    }
}

impl TaskSource for Script {
    type Task = u32;

    async fn fetch(&self, tasks_version: i64, request_key: &str) -> Result<Fetched<u32>, ConnectError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        // Counted down on drop, so a call abandoned by the loop's timeout leaves the count too.
        let _in_flight = InFlight(&self.in_flight);
        let _ = self.seen.send(Seen::Fetch { at: Instant::now(), tasks_version, key: request_key.to_owned() });
        let answer = self.answers.lock().unwrap().pop_front().unwrap_or(Answer::Nothing { tasks_version: 5 });
        match answer {
            Answer::Nothing { tasks_version } => Ok(Fetched { task: None, tasks_version }),
            Answer::Task { id, tasks_version } => Ok(Fetched { task: Some(id), tasks_version }),
            Answer::Error(code) => {
                Err(ConnectError::Status { rpc: "FetchTask", code, status: 500, message: "scripted".into() })
            }
            Answer::Hang => std::future::pending().await,
        }
    }

    async fn keep_alive(&self) -> Result<(), ConnectError> {
        let _ = self.seen.send(Seen::KeepAlive { at: Instant::now() });
        Ok(())
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Running {
    calls: mpsc::UnboundedReceiver<Seen>,
    tasks: mpsc::Receiver<Assignment<u32>>,
    free_slots: watch::Sender<u32>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), FetchError>>,
}

fn start(script: Arc<Script>, calls: mpsc::UnboundedReceiver<Seen>, capacity: usize, free: u32) -> Running {
    let (free_slots, free_rx) = watch::channel(free);
    let (tasks_tx, tasks) = mpsc::channel(8);
    let (stop, stopped) = oneshot::channel::<()>();
    let room = Room { capacity: Arc::new(Semaphore::new(capacity)), free_slots: free_rx };
    let config = FetchConfig::default();
    let done = tokio::spawn(async move {
        fetch_loop(&*script, &config, room, tasks_tx, async {
            let _ = stopped.await;
        })
        .await
    });
    Running { calls, tasks, free_slots, stop: Some(stop), done }
}

impl Running {
    async fn next_call(&mut self) -> Seen {
        self.calls.recv().await.expect("the loop is running")
    }

    async fn fetches(&mut self, n: usize) -> Vec<(i64, String)> {
        let mut fetches = Vec::new();
        while fetches.len() < n {
            if let Seen::Fetch { tasks_version, key, .. } = self.next_call().await {
                fetches.push((tasks_version, key));
            }
        }
        fetches
    }
}

#[tokio::test(start_paused = true)]
async fn the_request_key_is_reused_after_a_failed_call_and_renewed_after_an_answer() {
    let (script, calls) = Script::new(vec![
        Answer::Error(Code::Unavailable),
        Answer::Error(Code::Internal),
        Answer::Nothing { tasks_version: 3 },
        Answer::Nothing { tasks_version: 3 },
    ]);
    let mut running = start(script, calls, 1, 1);
    let keys: Vec<String> = running.fetches(4).await.into_iter().map(|(_, key)| key).collect();
    assert_eq!(keys[0], keys[1], "the key is sent again after an unavailable answer");
    assert_eq!(keys[1], keys[2], "the key is sent again after an internal error");
    assert_ne!(keys[2], keys[3], "an answered call gets a new key");
    for key in &keys {
        assert!(uuid_like(key), "{key} is a UUID");
    }
}

#[tokio::test(start_paused = true)]
async fn a_fetch_that_times_out_keeps_its_key_and_only_one_fetch_is_ever_outstanding() {
    let (script, calls) = Script::new(vec![Answer::Hang, Answer::Hang, Answer::Nothing { tasks_version: 1 }]);
    let mut running = start(script.clone(), calls, 4, 4);
    let fetches = running.fetches(4).await;
    assert_eq!(fetches[0].1, fetches[1].1);
    assert_eq!(fetches[1].1, fetches[2].1);
    assert_ne!(fetches[2].1, fetches[3].1);
    assert_eq!(script.most_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn tasks_version_is_kept_and_reset_to_zero_after_a_task() {
    let (script, calls) = Script::new(vec![
        Answer::Nothing { tasks_version: 4 },
        Answer::Task { id: 7, tasks_version: 9 },
        Answer::Nothing { tasks_version: 9 },
    ]);
    let mut running = start(script, calls, 2, 2);
    let versions: Vec<i64> = running.fetches(4).await.into_iter().map(|(version, _)| version).collect();
    assert_eq!(versions, [0, 4, 0, 9]);
    let assignment = running.tasks.recv().await.expect("the task is handed out");
    assert_eq!(assignment.task, 7);
}

#[tokio::test(start_paused = true)]
async fn calls_are_an_interval_apart() {
    let (script, calls) = Script::new(vec![]);
    let mut running = start(script, calls, 1, 1);
    let mut previous = running.next_call().await.at();
    for _ in 0..5 {
        let at = running.next_call().await.at();
        assert!(at - previous >= Duration::from_secs(2), "{:?} between two fetches", at - previous);
        previous = at;
    }
}

#[tokio::test(start_paused = true)]
async fn no_fetch_without_a_free_slot_yet_never_a_minute_of_silence() {
    let (script, calls) = Script::new(vec![]);
    let mut running = start(script, calls, 1, 0);
    let started = Instant::now();
    let mut previous = started;
    while previous - started < Duration::from_secs(600) {
        let call = running.next_call().await;
        assert!(matches!(call, Seen::KeepAlive { .. }), "no free slot, yet {call:?}");
        assert!(call.at() - previous <= Duration::from_secs(60), "{:?} of silence", call.at() - previous);
        previous = call.at();
    }
    running.free_slots.send_replace(1);
    loop {
        if let Seen::Fetch { .. } = running.next_call().await {
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn no_fetch_while_every_capacity_permit_is_held_by_a_running_job() {
    let (script, calls) = Script::new(vec![Answer::Task { id: 1, tasks_version: 2 }]);
    let mut running = start(script, calls, 1, 3);
    running.fetches(1).await;
    let job = running.tasks.recv().await.expect("the task is handed out");
    let since = Instant::now();
    // While the job holds the only permit, only keep-alives go out.
    loop {
        let call = running.next_call().await;
        assert!(matches!(call, Seen::KeepAlive { .. }), "capacity is used up, yet {call:?}");
        if call.at() - since > Duration::from_secs(300) {
            break;
        }
    }
    drop(job.permit);
    loop {
        if let Seen::Fetch { tasks_version, .. } = running.next_call().await {
            assert_eq!(tasks_version, 0);
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_unauthenticated_answer_stops_the_loop() {
    let (script, calls) = Script::new(vec![Answer::Nothing { tasks_version: 1 }, Answer::Error(Code::Unauthenticated)]);
    let running = start(script, calls, 1, 1);
    let result = running.done.await.expect("the loop does not panic");
    assert!(matches!(result, Err(FetchError::Unauthenticated(_))), "{result:?}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_fetching() {
    let (script, calls) = Script::new(vec![]);
    let mut running = start(script, calls, 1, 1);
    running.fetches(2).await;
    let _ = running.stop.take().map(|stop| stop.send(()));
    let result = running.done.await.expect("the loop does not panic");
    assert!(result.is_ok());
    let mut after = 0;
    while let Ok(call) = running.calls.try_recv() {
        after += usize::from(matches!(call, Seen::Fetch { .. }));
    }
    assert!(after <= 1, "{after} fetches after shutdown");
}

fn uuid_like(key: &str) -> bool {
    key.len() == 36 && key.chars().filter(|c| *c == '-').count() == 4
}
