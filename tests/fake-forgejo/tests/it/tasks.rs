//! The Task's contents and UpdateTask (forgejo.md §3.5, §3.6).

use std::collections::BTreeMap;

use fake_forgejo::proto::runner::v1 as wire;
use fake_forgejo::{FakeForgejo, JobSpec, Need, Status};

use crate::client::{PAYLOAD, WAIT, registered, running_task, state, step};

#[tokio::test]
async fn a_task_carries_payload_context_secrets_vars_and_needs() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    let mut spec = JobSpec::new("build", PAYLOAD, &["linux"], &["one", "two"]);
    spec.secrets.insert("DEPLOY_KEY".into(), "s3cret".into());
    spec.vars.insert("REGION".into(), "eu".into());
    spec.context.insert("event_name".into(), "pull_request".into());
    spec.needs.insert(
        "prepare".into(),
        Need { outputs: BTreeMap::from([("version".to_string(), "1.2".to_string())]), result: Status::Success },
    );
    fake.add_job(spec);

    let task = client.fetch(0).await.unwrap().task.unwrap();
    assert_eq!(task.workflow_payload.as_deref(), Some(PAYLOAD.as_bytes()));
    let context = serde_json::to_value(task.context.unwrap()).unwrap();
    let token = context["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 40);
    assert_eq!(context["event_name"], "pull_request", "the test's override wins");
    assert_eq!(context["job"], "build");
    assert_eq!(context["repository"], "solstice/test");
    assert_eq!(context["server_url"], format!("{}/", fake.url()));
    assert_eq!(context["api_url"], format!("{}/api/v1", fake.url()));
    assert_eq!(context["forgejo_default_actions_url"], fake.url());
    assert_eq!(context["gitea_default_actions_url"], fake.url());
    for name in ["GITHUB_TOKEN", "GITEA_TOKEN", "FORGEJO_TOKEN"] {
        assert_eq!(task.secrets[name], token);
    }
    assert_eq!(task.secrets["DEPLOY_KEY"], "s3cret");
    assert_eq!(task.vars["REGION"], "eu");
    let need = &task.needs["prepare"];
    assert_eq!(need.outputs["version"], "1.2");
    assert_eq!(need.result, wire::Result::Success as i32);
}

#[tokio::test]
async fn update_task_of_an_unknown_or_foreign_task_is_internal() {
    let fake = FakeForgejo::start().await.unwrap();
    let (_, _, task) = running_task(&fake).await;
    let stranger = registered(&fake, &["linux"], false).await;
    for id in [task.id, task.id + 1000] {
        let failure = stranger.update_task(&state(id, wire::Result::Unspecified, vec![])).await.unwrap_err();
        assert_eq!((failure.status, failure.code()), (500, "internal".into()));
    }
}

#[tokio::test]
async fn a_cancel_in_the_ui_reaches_the_runner_and_freezes_the_task() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    let answer = client
        .update_task(&state(task.id, wire::Result::Unspecified, vec![step(0, wire::Result::Unspecified, 0, 0)]))
        .await
        .unwrap();
    assert_eq!(answer.state.unwrap().result, wire::Result::Unspecified as i32);

    assert_eq!(fake.wait_until_picked(job, WAIT).await.unwrap(), task.id);
    let active = fake.runners().into_iter().find(|runner| Some(&runner.uuid) == client.uuid.as_ref()).unwrap();
    assert!(active.last_active.is_some(), "a task report marks the runner active");
    fake.cancel(job);
    let view = fake.wait_until_finished(job, WAIT).await.unwrap();
    assert_eq!(view.status, Status::Cancelled);

    // The runner's success after the cancel changes nothing; the answer carries the cancel.
    let answer = client
        .update_task(&state(
            task.id,
            wire::Result::Success,
            vec![step(0, wire::Result::Success, 0, 0), step(1, wire::Result::Success, 0, 0)],
        ))
        .await
        .unwrap();
    let answered = answer.state.unwrap();
    assert_eq!((answered.id, answered.result), (task.id, wire::Result::Cancelled as i32));
    let view = fake.view(job).unwrap();
    assert_eq!(view.status, Status::Cancelled);
    assert_eq!(view.step("one").unwrap().status, Status::Cancelled);
    assert_eq!(view.step("two").unwrap().status, Status::Cancelled);
}

#[tokio::test]
async fn cancelling_a_waiting_job_keeps_it_from_every_runner() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    let job = fake.add_job(crate::client::two_step_job());
    fake.cancel(job);
    assert!(client.fetch(0).await.unwrap().task.is_none());
    assert_eq!(fake.view(job).unwrap().status, Status::Cancelled);
}

#[tokio::test]
async fn a_final_result_finishes_the_job_and_steps() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    client
        .update_task(&state(
            task.id,
            wire::Result::Failure,
            vec![step(0, wire::Result::Success, 0, 0), step(1, wire::Result::Failure, 0, 0)],
        ))
        .await
        .unwrap();
    let view = fake.view(job).unwrap();
    assert_eq!(view.status, Status::Failure);
    assert_eq!(view.step("one").unwrap().status, Status::Success);
    assert_eq!(view.step("two").unwrap().status, Status::Failure);
    assert!(view.stopped.is_some());
}

#[tokio::test]
async fn a_step_left_out_keeps_its_range_and_runs_once_started() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    client.update_log(task.id, 0, &["setup", "a", "b"], false).await.unwrap();
    client
        .update_task(&state(task.id, wire::Result::Unspecified, vec![step(0, wire::Result::Unspecified, 1, 2)]))
        .await
        .unwrap();
    client.update_task(&state(task.id, wire::Result::Unspecified, vec![])).await.unwrap();
    let view = fake.view(job).unwrap();
    let one = view.step("one").unwrap();
    assert_eq!(one.status, Status::Running);
    assert_eq!(one.rows, ["a", "b"]);
    assert_eq!(view.step("two").unwrap().status, Status::Waiting);
}

#[tokio::test]
async fn outputs_are_stored_once_within_limits_and_all_keys_acknowledged() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    let mut request = state(task.id, wire::Result::Unspecified, vec![]);
    request.outputs.insert("version".into(), "1".into());
    request.outputs.insert("k".repeat(256), "too long a key".into());
    request.outputs.insert("big".into(), "v".repeat(1024 * 1024 + 1));
    let answer = client.update_task(&request).await.unwrap();
    assert_eq!(answer.sent_outputs, ["version"]);

    let mut request = state(task.id, wire::Result::Unspecified, vec![]);
    request.outputs.insert("version".into(), "2".into());
    request.outputs.insert("sha".into(), "abc".into());
    let mut acknowledged = client.update_task(&request).await.unwrap().sent_outputs;
    acknowledged.sort();
    assert_eq!(acknowledged, ["sha", "version"]);

    let outputs = fake.view(job).unwrap().outputs;
    assert_eq!(
        outputs,
        BTreeMap::from([("sha".to_string(), "abc".to_string()), ("version".to_string(), "1".to_string())])
    );
}

#[test]
fn a_job_spec_reads_its_id_labels_and_step_names_from_the_payload() {
    let payload = "name: ci\non: push\njobs:\n  test:\n    name: test (linux)\n    runs-on: [linux, kvm]\n    steps:\n      - uses: actions/checkout@v4\n      - name: Build\n        run: make\n      - run: |\n          make check\n      - id: last\n        run: ''\n";
    let spec = JobSpec::from_payload(payload).unwrap();
    assert_eq!(spec.job_id, "test");
    assert_eq!(spec.runs_on, ["linux", "kvm"]);
    assert_eq!(spec.steps, ["actions/checkout@v4", "Build", "make check\n", "last"]);
    assert_eq!(spec.payload_yaml, payload);

    let single = JobSpec::from_payload(PAYLOAD).unwrap();
    assert_eq!((single.runs_on, single.steps), (vec!["linux".to_string()], vec!["one".to_string(), "two".to_string()]));
    assert!(JobSpec::from_payload("jobs:\n  a: {}\n  b: {}\n").is_err());
    assert!(JobSpec::from_payload("jobs: [").is_err());
}
