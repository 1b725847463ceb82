//! Tests of github::broker against the fake GitHub over real HTTP: the client's calls and the
//! listen loop's behaviour as the broker and the user see it (ref §3.3, §3.6, §3.7, §6).

pub mod runner;

use std::time::Duration;

use fake_github::JobPhase;
use github::broker::{Backoff, BrokerError, JobRequestRef, ListenConfig, ListenError, Message, Status, listen};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use self::runner::{LABELS, TestRunner, WAIT, fake, runner};

/// The loop's waits cut to milliseconds.
fn short() -> ListenConfig {
    ListenConfig {
        conflict_retry: Duration::from_millis(50),
        conflict_give_up: Duration::from_millis(400),
        error_backoff: Backoff::fixed(Duration::from_millis(50)),
        later_error_backoff: Backoff::fixed(Duration::from_millis(100)),
        empty_poll_pause: Backoff::fixed(Duration::from_millis(10)),
        ..ListenConfig::default()
    }
}

/// A running [`listen`] and its ends.
struct Listening {
    status: watch::Sender<Status>,
    messages: mpsc::Receiver<Message>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ListenError>>,
}

fn start(runner: &TestRunner, config: ListenConfig) -> Listening {
    let (status, status_rx) = watch::channel(Status::Online);
    let (messages_tx, messages) = mpsc::channel(8);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let broker = runner.broker.clone();
    let request = runner.request.clone();
    let task = tokio::spawn(async move {
        listen(&broker, &request, &config, status_rx, messages_tx, async {
            let _ = stop_rx.await;
        })
        .await
    });
    Listening { status, messages, stop, task }
}

impl Listening {
    async fn next(&mut self) -> Message {
        tokio::time::timeout(WAIT, self.messages.recv()).await.expect("a message in time").expect("listener running")
    }

    async fn next_job(&mut self) -> JobRequestRef {
        match self.next().await {
            Message::RunnerJobRequest(job) => job,
            other => panic!("expected a job request, got {other:?}"),
        }
    }

    async fn stop(self) -> Result<(), ListenError> {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task).await.expect("stops in time").expect("listener task")
    }

    async fn ended(self) -> Result<(), ListenError> {
        tokio::time::timeout(WAIT, self.task).await.expect("ends in time").expect("listener task")
    }
}

#[tokio::test]
async fn an_empty_poll_answers_none_after_the_brokers_wait() {
    let fake = fake(Duration::from_millis(300)).await;
    let runner = runner(&fake).await;
    let session = runner.broker.create_session(&runner.request).await.expect("session");
    let started = std::time::Instant::now();
    let message = runner.broker.poll(&session, Status::Online).await.expect("poll");
    assert_eq!(message, None);
    assert!(started.elapsed() >= Duration::from_millis(300), "answered after {:?}", started.elapsed());
    assert_eq!(fake.runner_status(runner.id).as_deref(), Some("Online"));
    runner.broker.delete_session().await.expect("delete session");
    assert_eq!(fake.runner_status(runner.id), None);
}

#[tokio::test]
async fn a_queued_job_arrives_acknowledged_and_shutdown_deletes_the_session() {
    let fake = fake(Duration::from_secs(30)).await;
    let runner = runner(&fake).await;
    let mut listening = start(&runner, short());
    fake.wait_for(WAIT, |f| f.runner_status(runner.id)).await.expect("the runner polls");
    let other = fake.queue_job(&["self-hosted", "windows"]);
    let job = fake.queue_job(LABELS);
    let request = listening.next_job().await;
    assert_eq!(request.id, job);
    assert!(request.should_acknowledge);
    assert_eq!(request.run_service_url, format!("{}/run/", fake.base_url()));
    assert_eq!(request.billing_owner_id.as_deref(), Some("fake-billing-owner"));
    // The listener acknowledges before it hands the job on.
    assert_eq!(fake.job_phase(&job), Some(JobPhase::Acknowledged { runner_id: runner.id }));
    assert_eq!(fake.job_phase(&other), Some(JobPhase::Queued));
    listening.stop().await.expect("a clean stop");
    assert_eq!(fake.runner_status(runner.id), None, "the session is deleted at shutdown");
}

#[tokio::test]
async fn a_status_change_is_polled_at_once_and_the_cancellation_arrives_while_busy() {
    // Empty polls are held for a minute, far longer than the test waits: a new status can only
    // show this soon if the change cancelled the poll under way.
    let fake = fake(Duration::from_secs(60)).await;
    let runner = runner(&fake).await;
    let shows = |status: &'static str| {
        let fake = &fake;
        let id = runner.id;
        async move {
            fake.wait_for(WAIT, |f| (f.runner_status(id).as_deref() == Some(status)).then_some(()))
                .await
                .unwrap_or_else(|| panic!("the broker never showed {status}"))
        }
    };
    let mut listening = start(&runner, short());
    shows("Online").await;
    listening.status.send(Status::Busy).expect("status");
    shows("Busy").await;
    listening.status.send(Status::Online).expect("status");
    shows("Online").await;

    let job = fake.queue_job(LABELS);
    assert_eq!(listening.next_job().await.id, job);
    // Handing on a job, the listener reports Busy before the daemon says anything.
    shows("Busy").await;
    listening.status.send(Status::Busy).expect("status");
    // Busy: no second job is offered, but the first one's cancellation arrives.
    let second = fake.queue_job(LABELS);
    fake.cancel_job(&job);
    assert_eq!(listening.next().await, Message::JobCancellation { job_id: job });
    assert_eq!(fake.job_phase(&second), Some(JobPhase::Queued));
    listening.status.send(Status::Online).expect("status");
    assert_eq!(listening.next_job().await.id, second);
    listening.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn an_invalidated_session_is_recreated_and_the_next_job_still_arrives() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    let mut listening = start(&runner, short());
    fake.wait_for(WAIT, |f| f.runner_status(runner.id)).await.expect("the runner polls");
    fake.invalidate_sessions();
    assert_eq!(fake.runner_status(runner.id), None);
    let job = fake.queue_job(LABELS);
    assert_eq!(listening.next_job().await.id, job);
    assert!(fake.runner_status(runner.id).is_some(), "a new session is open");
    listening.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_session_held_elsewhere_is_retried_until_released() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    fake.occupy_session(runner.id);
    let config = ListenConfig { conflict_give_up: WAIT, ..short() };
    let mut listening = start(&runner, config);
    // The listener keeps asking for a session while the other holds it.
    let asked = *runner.tokens.asked.borrow();
    let mut asked_rx = runner.tokens.asked.subscribe();
    tokio::time::timeout(WAIT, asked_rx.wait_for(|n| *n >= asked + 3)).await.expect("retries").expect("tokens");
    // The other process exits and deletes its session; the listener gets one and the job.
    runner.broker.delete_session().await.expect("the other process deletes its session");
    let job = fake.queue_job(LABELS);
    assert_eq!(listening.next_job().await.id, job);
    listening.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_session_held_elsewhere_for_too_long_ends_listening() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    fake.occupy_session(runner.id);
    let listening = start(&runner, short());
    let error = listening.ended().await.expect_err("gives up");
    assert!(matches!(error, ListenError::SessionConflict { .. }), "{error:?}");
    assert!(!error.registration_gone());
    assert!(error.to_string().contains("another process still holds this runner's session"), "{error}");
    // The other process's session is not this listener's to delete.
    assert_eq!(fake.runner_status(runner.id).as_deref(), Some("Online"));
}

#[tokio::test]
async fn expired_tokens_are_replaced_on_the_first_401() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    let mut listening = start(&runner, short());
    fake.wait_for(WAIT, |f| f.runner_status(runner.id)).await.expect("the runner polls");
    assert_eq!(*runner.tokens.minted.borrow(), 1);
    fake.expire_tokens();
    let job = fake.queue_job(LABELS);
    assert_eq!(listening.next_job().await.id, job);
    assert_eq!(*runner.tokens.minted.borrow(), 2, "one fresh token after the 401");
    listening.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_deleted_runner_ends_listening_with_runner_gone() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    let listening = start(&runner, short());
    fake.wait_for(WAIT, |f| f.runner_status(runner.id)).await.expect("the runner polls");
    assert!(fake.delete_runner(runner.id));
    let error = listening.ended().await.expect_err("the runner is gone");
    assert!(error.registration_gone(), "{error:?}");
    assert!(matches!(error, ListenError::RunnerGone(BrokerError::RunnerNotFound(_))), "{error:?}");
    assert!(error.to_string().contains("configure it again"), "{error}");
}

#[tokio::test]
async fn a_runner_deleted_before_it_starts_is_told_by_the_token_endpoint() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    assert!(fake.delete_runner(runner.id));
    let error = start(&runner, short()).ended().await.expect_err("the runner is gone");
    assert!(error.registration_gone(), "{error:?}");
}

#[tokio::test]
async fn an_outage_is_waited_out_and_the_next_job_arrives() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    let mut listening = start(&runner, short());
    fake.wait_for(WAIT, |f| f.runner_status(runner.id)).await.expect("the runner polls");
    fake.fail_for(Duration::from_secs(600));
    // Several failed polls, each after a backoff, and the listener still runs.
    let asked = *runner.tokens.asked.borrow();
    let mut asked_rx = runner.tokens.asked.subscribe();
    tokio::time::timeout(WAIT, asked_rx.wait_for(|n| *n >= asked + 4)).await.expect("retries").expect("tokens");
    assert!(!listening.task.is_finished());
    fake.recover();
    let job = fake.queue_job(LABELS);
    assert_eq!(listening.next_job().await.id, job);
    listening.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn listening_ends_quietly_when_nobody_takes_the_messages() {
    let fake = fake(Duration::from_millis(200)).await;
    let runner = runner(&fake).await;
    let listening = start(&runner, short());
    fake.wait_for(WAIT, |f| f.runner_status(runner.id)).await.expect("the runner polls");
    let Listening { messages, task, stop, status } = listening;
    drop(messages);
    tokio::time::timeout(WAIT, task).await.expect("ends").expect("task").expect("a clean end");
    assert_eq!(fake.runner_status(runner.id), None);
    drop((stop, status));
}
