//! The zombie timer (forgejo.md §3.8).

use std::time::Duration;

use fake_forgejo::proto::runner::v1 as wire;
use fake_forgejo::{Config, FakeForgejo, Status};

use crate::client::{WAIT, running_task, state};

#[tokio::test]
async fn a_task_without_updates_fails_and_the_runner_learns_it() {
    let fake = FakeForgejo::start_with(Config { zombie_timeout: Duration::from_millis(500) }).await.unwrap();
    let (client, job, task) = running_task(&fake).await;

    let view = fake.wait_until_finished(job, WAIT).await.unwrap();
    assert_eq!(view.status, Status::Failure);
    assert!(view.log_archived);
    for name in ["one", "two", fake_forgejo::COMPLETE_JOB] {
        assert_eq!(view.step(name).unwrap().status, Status::Failure, "{name}");
    }

    let answer = client.update_task(&state(task.id, wire::Result::Unspecified, vec![])).await.unwrap();
    assert_eq!(answer.state.unwrap().result, wire::Result::Failure as i32);
}

#[tokio::test]
async fn heartbeats_keep_a_task_alive() {
    let fake = FakeForgejo::start_with(Config { zombie_timeout: Duration::from_secs(2) }).await.unwrap();
    let (client, job, task) = running_task(&fake).await;
    let (_other_client, other_job, _) = running_task(&fake).await;
    // While the silent task dies, this one reports at a runner's pace and stays running.
    let silent = fake.wait_for(WAIT, |snapshot| snapshot.view(other_job).filter(|view| view.status.is_final()));
    tokio::pin!(silent);
    let mut report_interval = tokio::time::interval(Duration::from_millis(50));
    let heartbeat = state(task.id, wire::Result::Unspecified, vec![]);
    let mut heartbeats = 0;
    loop {
        tokio::select! {
            view = &mut silent => {
                assert_eq!(view.unwrap().status, Status::Failure);
                break;
            }
            _ = report_interval.tick() => {
                let answer = client.update_task(&heartbeat).await.unwrap();
                assert_eq!(answer.state.unwrap().result, wire::Result::Unspecified as i32);
                heartbeats += 1;
            }
        }
    }
    assert!(heartbeats > 0);
    assert_eq!(fake.view(job).unwrap().status, Status::Running);
}
