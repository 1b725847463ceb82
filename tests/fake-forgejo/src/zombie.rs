//! The zombie timer: a running task nobody reported on for `zombie_timeout` fails and its log
//! is archived (forgejo.md §3.8).

use std::sync::Weak;

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::state::{Shared, State};
use crate::status::Status;

/// Runs until the instance is dropped. It sleeps until the earliest moment a task could become
/// a zombie, or until the state changes (a new task, a heartbeat), whichever comes first.
pub(crate) async fn watch_for_zombies(shared: Weak<Shared>) {
    let Some(mut changes) = shared.upgrade().map(|shared| shared.subscribe()) else {
        return;
    };
    loop {
        let next = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let now = Instant::now();
            let expired = expired_tasks(&shared.read(), now);
            if !expired.is_empty() {
                shared.change(|state| {
                    for task_id in expired {
                        state.stop_task(task_id, Status::Failure, OffsetDateTime::now_utc());
                        if let Some(task) = state.tasks.get_mut(&task_id) {
                            task.log_archived = true;
                        }
                    }
                });
                // Consume the change we just announced ourselves.
                changes.mark_unchanged();
            }
            next_deadline(&shared.read())
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    changed = changes.changed() => if changed.is_err() { return },
                }
            }
            None => {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

fn expired_tasks(state: &State, now: Instant) -> Vec<i64> {
    state
        .tasks
        .values()
        .filter(|task| task.status == Status::Running)
        .filter(|task| task.updated + state.config.zombie_timeout <= now)
        .map(|task| task.id)
        .collect()
}

fn next_deadline(state: &State) -> Option<Instant> {
    state
        .tasks
        .values()
        .filter(|task| task.status == Status::Running)
        .map(|task| task.updated + state.config.zombie_timeout)
        .min()
}
