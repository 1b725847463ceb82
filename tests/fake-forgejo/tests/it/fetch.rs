//! FetchTask: tasks version, label matching, request keys, ephemeral runners (forgejo.md §3.4).

use fake_forgejo::proto::runner::v1 as wire;
use fake_forgejo::{FakeForgejo, JobSpec, Status};

use crate::client::{PAYLOAD, registered, state, two_step_job};

#[tokio::test]
async fn an_unchanged_tasks_version_takes_the_cheap_path() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;

    let first = client.fetch(0).await.unwrap();
    assert!(first.task.is_none());
    assert!(first.tasks_version >= 1);
    let version = first.tasks_version;
    assert_eq!(client.fetch(version).await.unwrap().tasks_version, version);

    let job = fake.add_job(two_step_job());
    let other = fake.add_job(two_step_job());
    // Jobs became waiting: the version moved, and the stale version gets a pick.
    let picked = client.fetch(version).await.unwrap();
    assert!(picked.tasks_version > version);
    assert!(picked.task.is_some());
    assert_eq!(fake.view(job).unwrap().status, Status::Running);

    // Keeping the answer's version after a task hides the other waiting job (§7 item 2);
    // resetting to 0 finds it.
    let cheap = client.fetch(picked.tasks_version).await.unwrap();
    assert_eq!((cheap.task, cheap.tasks_version), (None, picked.tasks_version));
    assert_eq!(fake.view(other).unwrap().status, Status::Waiting);
    assert!(client.fetch(0).await.unwrap().task.is_some());
    assert_eq!(fake.view(other).unwrap().status, Status::Running);
}

#[tokio::test]
async fn the_cheap_path_hides_a_waiting_job_until_the_version_moves() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    let job = fake.add_job(two_step_job());
    let version = fake.snapshot(|snapshot| snapshot.tasks_version());
    let cheap = client.fetch(version).await.unwrap();
    assert_eq!((cheap.task, cheap.tasks_version), (None, version));
    assert_eq!(fake.view(job).unwrap().status, Status::Waiting);
}

#[tokio::test]
async fn a_job_goes_only_to_a_runner_carrying_all_its_labels() {
    let fake = FakeForgejo::start().await.unwrap();
    let job = fake.add_job(JobSpec::new("build", PAYLOAD, &["linux", "kvm"], &["one"]));
    let no_labels = fake.add_job(JobSpec::new("none", PAYLOAD, &[], &["one"]));

    let partial = registered(&fake, &["linux"], false).await;
    assert!(partial.fetch(0).await.unwrap().task.is_none());
    let unlabelled = registered(&fake, &[], false).await;
    assert!(unlabelled.fetch(0).await.unwrap().task.is_none());

    let superset = registered(&fake, &["kvm", "linux", "big"], false).await;
    let task = superset.fetch(0).await.unwrap().task.unwrap();
    assert_eq!(fake.view(job).unwrap().task_id, Some(task.id));
    // The job with an empty runs-on never matches, not even a runner with labels.
    assert!(superset.fetch(0).await.unwrap().task.is_none());
    assert_eq!(fake.view(no_labels).unwrap().status, Status::Waiting);
}

#[tokio::test]
async fn a_repeated_request_key_gets_the_same_task_with_a_new_token() {
    let fake = FakeForgejo::start().await.unwrap();
    let mut client = registered(&fake, &["linux"], false).await;
    fake.add_job(two_step_job());
    fake.add_job(two_step_job());
    client.request_key = Some("key-1".into());

    let first = client.fetch(0).await.unwrap();
    let first_task = first.task.unwrap();
    assert!(first.tasks_version >= 1);
    let retried = client.fetch(0).await.unwrap();
    assert_eq!(retried.tasks_version, 0);
    let retried_task = retried.task.unwrap();
    assert_eq!(retried_task.id, first_task.id);
    assert_ne!(retried_task.secrets["GITHUB_TOKEN"], first_task.secrets["GITHUB_TOKEN"]);

    client.request_key = Some("key-2".into());
    let next = client.fetch(0).await.unwrap().task.unwrap();
    assert_ne!(next.id, first_task.id, "a new key picks the next waiting job");
}

#[tokio::test]
async fn an_ephemeral_runner_gets_one_task_and_is_deleted_at_its_result() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], true).await;
    fake.add_job(two_step_job());
    fake.add_job(two_step_job());

    let task = client.fetch(0).await.unwrap().task.unwrap();
    assert!(client.fetch(0).await.unwrap().task.is_none());

    client.update_task(&state(task.id, wire::Result::Success, vec![])).await.unwrap();
    assert!(fake.runners().is_empty());
    let failure = client.fetch(0).await.unwrap_err();
    assert_eq!(failure.code(), "unauthenticated");
}

#[tokio::test]
async fn a_runner_sees_only_the_jobs_of_its_scope() {
    use fake_forgejo::Scope;
    use fake_forgejo::proto::runner::v1 as wire;

    let fake = FakeForgejo::start().await.unwrap();
    let mut other_repo = two_step_job();
    other_repo.repository = "someone/else".into();
    let elsewhere = fake.add_job(other_repo);
    let here = fake.add_job(two_step_job());

    let mut client = crate::client::Client::new(&fake);
    let request = wire::RegisterRequest {
        name: "repo-runner".into(),
        token: fake.registration_token(Scope::Repo("solstice/test".into())),
        labels: vec!["linux".into()],
        ..Default::default()
    };
    let runner = client.register(&request).await.unwrap().runner.unwrap();
    client.uuid = Some(runner.uuid);
    client.token = Some(runner.token);

    let task = client.fetch(0).await.unwrap().task.unwrap();
    assert_eq!(fake.view(here).unwrap().task_id, Some(task.id));
    assert!(client.fetch(0).await.unwrap().task.is_none());
    assert_eq!(fake.view(elsewhere).unwrap().status, Status::Waiting);
}
