//! The forge runners' per-task state.

use serde_json::json;

use crate::db::TestDb;
use crate::fixture::at;

pub async fn runner_tasks_round_trip(db: &mut TestDb) {
    let state = json!({ "task_id": 4711, "step": 2, "log_offsets": [0, 17, 42], "note": "ünïcødé ✓" });
    db.store.put_runner_task("runner-1", "task-2", &state, at(0)).await.unwrap();
    db.store.put_runner_task("runner-1", "task-1", &json!({ "step": 0 }), at(0)).await.unwrap();
    db.store.put_runner_task("runner-2", "task-1", &json!(null), at(0)).await.unwrap();

    let task = db.store.runner_task("runner-1", "task-2").await.unwrap().expect("it was saved");
    assert_eq!((task.runner_id.as_str(), task.task_ref.as_str()), ("runner-1", "task-2"));
    assert_eq!((task.state, task.updated_at), (state, at(0)));
    assert_eq!(db.store.runner_task("runner-1", "task-9").await.unwrap(), None);

    // Saving again replaces.
    db.store.put_runner_task("runner-1", "task-2", &json!({ "step": 3 }), at(5)).await.unwrap();
    let tasks = db.store.runner_tasks("runner-1").await.unwrap();
    let listed: Vec<_> = tasks.iter().map(|t| (t.task_ref.as_str(), t.state.clone(), t.updated_at)).collect();
    assert_eq!(listed, [("task-1", json!({ "step": 0 }), at(0)), ("task-2", json!({ "step": 3 }), at(5))]);
    assert_eq!(db.store.runner_tasks("runner-2").await.unwrap()[0].state, json!(null));

    assert!(db.store.remove_runner_task("runner-1", "task-1").await.unwrap());
    assert!(!db.store.remove_runner_task("runner-1", "task-1").await.unwrap());
    assert_eq!(db.store.runner_tasks("runner-1").await.unwrap().len(), 1);
}
