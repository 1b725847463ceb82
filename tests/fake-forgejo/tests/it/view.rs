//! The job page: "Set up job", the steps and "Complete job" from the rows and step ranges
//! (forgejo.md §4).

use fake_forgejo::proto::runner::v1::Result as R;
use fake_forgejo::{COMPLETE_JOB, FakeForgejo, JobSpec, SET_UP_JOB, Status, StepView};

use crate::client::{PAYLOAD, registered, running_task, state, step};

fn section(name: &str, status: Status, rows: &[&str]) -> StepView {
    StepView { name: name.to_string(), status, rows: rows.iter().map(|row| row.to_string()).collect() }
}

#[tokio::test]
async fn a_waiting_job_shows_every_section_waiting() {
    let fake = FakeForgejo::start().await.unwrap();
    let job = fake.add_job(crate::client::two_step_job());
    let view = fake.view(job).unwrap();
    assert_eq!(view.status, Status::Waiting);
    assert_eq!(
        view.steps,
        [
            section(SET_UP_JOB, Status::Waiting, &[]),
            section("one", Status::Waiting, &[]),
            section("two", Status::Waiting, &[]),
            section(COMPLETE_JOB, Status::Waiting, &[]),
        ]
    );
}

#[tokio::test]
async fn rows_before_the_first_step_are_the_set_up() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    client.update_log(task.id, 0, &["received task", "prepared"], false).await.unwrap();
    let view = fake.view(job).unwrap();
    assert_eq!(view.steps[0], section(SET_UP_JOB, Status::Running, &["received task", "prepared"]));

    client.update_log(task.id, 2, &["1"], false).await.unwrap();
    client.update_task(&state(task.id, R::Unspecified, vec![step(0, R::Unspecified, 2, 1)])).await.unwrap();
    let view = fake.view(job).unwrap();
    assert_eq!(
        view.steps,
        [
            section(SET_UP_JOB, Status::Success, &["received task", "prepared"]),
            section("one", Status::Running, &["1"]),
            section("two", Status::Waiting, &[]),
            section(COMPLETE_JOB, Status::Waiting, &[]),
        ]
    );
}

#[tokio::test]
async fn a_finished_job_splits_its_log_into_set_up_steps_and_completion() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    let rows = ["setup", "1a", "1b", "2a", "Job succeeded"];
    client.update_log(task.id, 0, &rows, true).await.unwrap();
    client
        .update_task(&state(task.id, R::Success, vec![step(0, R::Success, 1, 2), step(1, R::Success, 3, 1)]))
        .await
        .unwrap();
    let view = fake.view(job).unwrap();
    assert_eq!(view.status, Status::Success);
    assert_eq!(
        view.steps,
        [
            section(SET_UP_JOB, Status::Success, &["setup"]),
            section("one", Status::Success, &["1a", "1b"]),
            section("two", Status::Success, &["2a"]),
            section(COMPLETE_JOB, Status::Success, &["Job succeeded"]),
        ]
    );
}

#[tokio::test]
async fn completion_rows_are_invisible_when_the_last_step_was_skipped() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    client.update_log(task.id, 0, &["setup", "1a", "done"], true).await.unwrap();
    client
        .update_task(&state(task.id, R::Success, vec![step(0, R::Success, 1, 1), step(1, R::Skipped, 2, 0)]))
        .await
        .unwrap();
    let view = fake.view(job).unwrap();
    assert_eq!(view.step("two").unwrap(), &section("two", Status::Skipped, &[]));
    assert_eq!(view.step(COMPLETE_JOB).unwrap(), &section(COMPLETE_JOB, Status::Success, &[]));
}

#[tokio::test]
async fn a_failed_step_makes_the_completion_visible() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    client.update_log(task.id, 0, &["setup", "boom", "cleanup"], false).await.unwrap();
    client
        .update_task(&state(task.id, R::Unspecified, vec![step(0, R::Failure, 1, 1), step(1, R::Unspecified, 2, 0)]))
        .await
        .unwrap();
    let view = fake.view(job).unwrap();
    assert_eq!(view.step(COMPLETE_JOB).unwrap(), &section(COMPLETE_JOB, Status::Running, &["cleanup"]));
}

#[tokio::test]
async fn a_job_without_steps_shows_the_two_pseudo_steps() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    let job = fake.add_job(JobSpec::new("empty", PAYLOAD, &["linux"], &[]));
    let task = client.fetch(0).await.unwrap().task.unwrap();
    client.update_log(task.id, 0, &["only"], true).await.unwrap();
    client.update_task(&state(task.id, R::Success, vec![])).await.unwrap();
    assert_eq!(
        fake.view(job).unwrap().steps,
        [section(SET_UP_JOB, Status::Success, &["only"]), section(COMPLETE_JOB, Status::Success, &[])]
    );
}

#[tokio::test]
async fn set_up_holds_the_whole_log_and_mirrors_the_task_until_a_step_runs() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    client.update_log(task.id, 0, &["received task", "image pull failed"], true).await.unwrap();
    client
        .update_task(&state(task.id, R::Failure, vec![step(0, R::Cancelled, 0, 0), step(1, R::Cancelled, 0, 0)]))
        .await
        .unwrap();
    let view = fake.view(job).unwrap();
    assert_eq!(view.steps[0], section(SET_UP_JOB, Status::Failure, &["received task", "image pull failed"]));
    assert_eq!(view.step(COMPLETE_JOB).unwrap(), &section(COMPLETE_JOB, Status::Failure, &[]));
}

#[test]
fn a_step_without_a_name_is_named_after_uses_then_run_then_id() {
    use fake_forgejo::step_name;
    assert_eq!(step_name("Build", "actions/checkout@v4", "make", "b"), "Build");
    assert_eq!(step_name("", "actions/checkout@v4", "make", "b"), "actions/checkout@v4");
    assert_eq!(step_name("", "", "make", "b"), "make");
    assert_eq!(step_name("", "", "", "b"), "b");
}
