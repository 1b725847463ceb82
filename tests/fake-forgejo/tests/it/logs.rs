//! UpdateLog's acknowledgement rules and row storage (forgejo.md §3.7).

use fake_forgejo::FakeForgejo;

use crate::client::running_task;

fn contents(fake: &FakeForgejo, job: fake_forgejo::JobHandle) -> Vec<String> {
    fake.rows(job).into_iter().map(|row| row.content).collect()
}

#[tokio::test]
async fn rows_are_acknowledged_by_absolute_index() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    assert_eq!(client.update_log(task.id, 0, &["a", "b"], false).await.unwrap(), 2);
    // A gap writes nothing and answers the current length.
    assert_eq!(client.update_log(task.id, 3, &["x"], false).await.unwrap(), 2);
    // All duplicates write nothing.
    assert_eq!(client.update_log(task.id, 0, &["a", "b"], false).await.unwrap(), 2);
    // An overlap skips the rows already held.
    assert_eq!(client.update_log(task.id, 1, &["b", "c", "d"], false).await.unwrap(), 4);
    assert_eq!(contents(&fake, job), ["a", "b", "c", "d"]);
    let stored = fake.rows(job);
    assert_eq!(stored[0].time.map(|time| time.unix_timestamp()), Some(1_700_000_000));
}

#[tokio::test]
async fn no_more_on_a_batch_that_writes_nothing_is_ignored() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    client.update_log(task.id, 0, &["a"], false).await.unwrap();
    assert_eq!(client.update_log(task.id, 1, &[], true).await.unwrap(), 1);
    assert_eq!(client.update_log(task.id, 0, &["a"], true).await.unwrap(), 1);
    assert_eq!(client.update_log(task.id, 5, &["z"], true).await.unwrap(), 1);
    assert!(!fake.view(job).unwrap().log_archived);
    // So more rows are still accepted.
    assert_eq!(client.update_log(task.id, 1, &["b"], false).await.unwrap(), 2);
}

#[tokio::test]
async fn no_more_archives_the_log_and_later_rows_are_refused() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    assert_eq!(client.update_log(task.id, 0, &["a", "b"], true).await.unwrap(), 2);
    assert!(fake.view(job).unwrap().log_archived);
    // Rows the server already holds are still just acknowledged…
    assert_eq!(client.update_log(task.id, 0, &["a", "b"], true).await.unwrap(), 2);
    // …new ones are refused.
    let failure = client.update_log(task.id, 2, &["c"], false).await.unwrap_err();
    assert_eq!((failure.status, failure.code()), (409, "already_exists".into()));
    assert_eq!(contents(&fake, job), ["a", "b"]);
}

#[tokio::test]
async fn a_newline_is_stored_escaped_and_a_long_row_is_cut_to_64_kib() {
    let fake = FakeForgejo::start().await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    let long = "x".repeat(64 * 1024 + 10);
    client.update_log(task.id, 0, &["one\ntwo", &long], false).await.unwrap();
    let stored = contents(&fake, job);
    assert_eq!(stored[0], "one\\ntwo");
    assert_eq!(stored[1].len(), 64 * 1024);
}

#[tokio::test]
async fn update_log_of_a_foreign_task_is_internal() {
    let fake = FakeForgejo::start().await.unwrap();
    let (_, _, task) = running_task(&fake).await;
    let stranger = crate::client::registered(&fake, &["linux"], false).await;
    let failure = stranger.update_log(task.id, 0, &["a"], false).await.unwrap_err();
    assert_eq!(failure.code(), "internal");
}
