//! The Connect client as task source and task sink against the fake Forgejo: a waiting job
//! becomes a TaskInput, and rows and a final state reach the job's page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fake_forgejo::{FakeForgejo, JobSpec, Scope, Status};
use forgejo::client::RegisterRequest;
use forgejo::fetch::{FetchConfig, Room, TaskSource, fetch_loop};
use forgejo::report::{Row, SinkError, StepView, TaskResult, TaskSink, TaskStateView};
use forgejo::{Client, Poller, RunnerToken};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc, watch};

const PAYLOAD: &str =
    "name: ci\non: push\njobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - run: echo hi\n";

async fn poller(fake: &FakeForgejo) -> Poller {
    let client = Client::new(fake.url()).expect("a client of the fake");
    let request = RegisterRequest {
        name: "runner-1".into(),
        registration_token: RunnerToken::new(fake.registration_token(Scope::Global)),
        labels: vec!["linux-test".into()],
        ephemeral: false,
    };
    let runner = client.register(&request).await.expect("registers");
    let credentials = forgejo::Credentials { uuid: runner.uuid, token: runner.token.expect("a runner token") };
    let client = client.with_credentials(&credentials).expect("credentials fit in headers");
    Poller { client, labels: vec!["linux-test".into()] }
}

#[tokio::test]
async fn a_waiting_job_is_fetched_as_a_task_input_with_the_request_key_sent() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let poller = poller(&fake).await;
    let mut spec = JobSpec::new("build", PAYLOAD, &["linux-test"], &["echo hi"]);
    spec.secrets.insert("TOKEN_X".into(), "s3cret".into());
    let job = fake.add_job(spec);

    let fetched = poller.fetch(0, "key-1").await.expect("fetches");
    let task = fetched.task.expect("the job is handed out");
    assert_eq!(Some(task.id), fake.view(job).and_then(|view| view.task_id));
    assert_eq!(task.workflow_payload, PAYLOAD.as_bytes());
    assert_eq!(task.context.get("job").and_then(|job| job.as_str()), Some("build"));
    assert_eq!(task.secrets.get("TOKEN_X").map(String::as_str), Some("s3cret"));
    let fetch = fake.snapshot(|s| s.calls_of("FetchTask")).pop().expect("FetchTask was called");
    assert_eq!(fetch.request_key.as_deref(), Some("key-1"));

    let again = poller.fetch(fetched.tasks_version, "key-2").await.expect("fetches");
    assert!(again.task.is_none(), "nothing else waits");
}

#[tokio::test]
async fn rows_and_the_final_state_reach_the_job_page() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let poller = poller(&fake).await;
    let job = fake.add_job(JobSpec::new("build", PAYLOAD, &["linux-test"], &["echo hi"]));
    let task = poller.fetch(0, "k").await.expect("fetches").task.expect("a task");
    let now = OffsetDateTime::now_utc();
    let rows = [Row { time: now, content: "setting up".into() }, Row { time: now, content: "hi".into() }];
    let sink: &dyn TaskSink = &poller.client;
    assert_eq!(sink.update_log(task.id, 0, &rows, true).await.expect("rows taken"), 2);
    let state = TaskStateView {
        id: task.id,
        result: TaskResult::Success,
        started_at: Some(now),
        stopped_at: Some(now),
        steps: vec![StepView {
            id: 0,
            result: TaskResult::Success,
            started_at: Some(now),
            stopped_at: Some(now),
            log_index: 1,
            log_length: 1,
        }],
    };
    let outputs = BTreeMap::from([("out".to_owned(), "1".to_owned())]);
    let answer = sink.update_task(&state, &outputs).await.expect("state taken");
    assert_eq!(answer.result, TaskResult::Success);
    assert_eq!(answer.sent_outputs, ["out"]);
    let view = fake.wait_until_finished(job, Duration::from_secs(5)).await.expect("the job finishes");
    assert_eq!(view.status, Status::Success);
    let contents: Vec<String> = fake.rows(job).into_iter().map(|row| row.content).collect();
    assert_eq!(contents, ["setting up", "hi"]);

    let late = [Row { time: now, content: "late".into() }];
    assert_eq!(sink.update_log(task.id, 2, &late, false).await, Err(SinkError::LogArchived));
}

#[tokio::test]
async fn the_fetch_loop_hands_out_a_job_added_while_it_polls() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let poller = poller(&fake).await;
    let (_free_tx, free_slots) = watch::channel(1u32);
    let room = Room { capacity: Arc::new(Semaphore::new(1)), free_slots };
    let (tasks_tx, mut tasks) = mpsc::channel(1);
    let config = FetchConfig { interval: Duration::from_millis(20), ..FetchConfig::default() };
    let looping =
        tokio::spawn(async move { fetch_loop(&poller, &config, room, tasks_tx, std::future::pending()).await });
    fake.wait_for(Duration::from_secs(5), |s| (s.calls_of("FetchTask").len() >= 2).then_some(()))
        .await
        .expect("the loop polls");
    let job = fake.add_job(JobSpec::new("build", PAYLOAD, &["linux-test"], &["echo hi"]));
    let assignment = tokio::time::timeout(Duration::from_secs(5), tasks.recv())
        .await
        .expect("a task within 5 s")
        .expect("the loop runs");
    assert_eq!(Some(assignment.task.id), fake.view(job).and_then(|view| view.task_id));
    // The call after the task asks with version 0, so the next waiting job is found at once.
    drop(assignment);
    looping.abort();
}

#[tokio::test]
async fn the_fetch_loop_resends_its_request_key_through_a_proxy_outage_and_renews_it_after() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let poller = poller(&fake).await;
    fake.proxy_down();
    let (_free_tx, free_slots) = watch::channel(1u32);
    let room = Room { capacity: Arc::new(Semaphore::new(1)), free_slots };
    let (tasks_tx, _tasks) = mpsc::channel(1);
    let config = FetchConfig { interval: Duration::from_millis(20), ..FetchConfig::default() };
    let looping =
        tokio::spawn(async move { fetch_loop(&poller, &config, room, tasks_tx, std::future::pending()).await });
    let fetches = |n: usize| {
        move |s: &fake_forgejo::Snapshot<'_>| {
            let calls = s.calls_of("FetchTask");
            (calls.len() >= n).then_some(calls)
        }
    };
    fake.wait_for(Duration::from_secs(5), fetches(3)).await.expect("the loop keeps trying");
    fake.clear_faults();
    let calls = fake.wait_for(Duration::from_secs(5), |s| {
        let calls = s.calls_of("FetchTask");
        (calls.iter().filter(|call| call.status == 200).count() >= 2).then_some(calls)
    });
    let calls = calls.await.expect("the loop fetches again");
    looping.abort();
    let first_ok = calls.iter().position(|call| call.status == 200).expect("an answered call");
    assert!(first_ok >= 3);
    let key = calls[0].request_key.clone().expect("a request key");
    for call in &calls[..=first_ok] {
        assert_eq!(call.request_key.as_ref(), Some(&key), "the same key until an answer");
    }
    assert_ne!(calls[first_ok + 1].request_key.as_ref(), Some(&key), "a new key after the answer");
}
