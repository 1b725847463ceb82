//! [`Poller`]: the Connect client as the fetch loop's [`TaskSource`], turning the wire task into
//! a [`TaskInput`] at the boundary.

use std::collections::BTreeMap;

use crate::client::Client;
use crate::connect::ConnectError;
use crate::fetch::{Fetched, TaskSource};
use crate::sink::task_result;
use crate::task::{NeedInput, TaskInput};
use crate::wire::{json_object, runner};

/// Fetches from one Forgejo instance; keeps the runner online with Declare while it has no room.
#[derive(Clone)]
pub struct Poller {
    pub client: Client,
    /// The label names Declare sends.
    pub labels: Vec<String>,
}

impl TaskSource for Poller {
    type Task = TaskInput;

    async fn fetch(&self, tasks_version: i64, request_key: &str) -> Result<Fetched<TaskInput>, ConnectError> {
        let answer = self.client.fetch_task_wire(tasks_version, request_key).await?;
        Ok(Fetched { task: answer.task.map(task_input), tasks_version: answer.tasks_version })
    }

    async fn keep_alive(&self) -> Result<(), ConnectError> {
        self.client.declare(&self.labels).await.map(|_| ())
    }
}

/// Ours from the wire task. Nothing in it can be wrong enough to refuse: a missing payload or
/// context is empty, and translation reports what it misses in the forge's log.
pub(crate) fn task_input(task: runner::Task) -> TaskInput {
    TaskInput {
        id: task.id,
        workflow_payload: task.workflow_payload.unwrap_or_default(),
        context: task.context.map(json_object).unwrap_or_default(),
        secrets: task.secrets.into_iter().collect(),
        vars: task.vars.into_iter().collect(),
        needs: task
            .needs
            .into_iter()
            .map(|(job, need)| {
                let outputs: BTreeMap<String, String> = need.outputs.into_iter().collect();
                (job, NeedInput { outputs, result: task_result(need.result) })
            })
            .collect(),
    }
}
