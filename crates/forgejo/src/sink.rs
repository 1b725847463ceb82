//! [`TaskSink`] over the Connect client: UpdateLog and UpdateTask, with Connect errors sorted
//! into what the reporter does about them.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::client::{CALL_TIMEOUT, Client, UPDATE_LOG, UPDATE_TASK};
use crate::connect::{Code, ConnectError};
use crate::report::{Row, SinkError, StepView, TaskAnswer, TaskResult, TaskSink, TaskStateView};
use crate::wire::{runner, timestamp};

#[async_trait]
impl TaskSink for Client {
    async fn update_log(&self, task_id: i64, index: i64, rows: &[Row], no_more: bool) -> Result<i64, SinkError> {
        let request = runner::UpdateLogRequest {
            task_id,
            index,
            rows: rows
                .iter()
                .map(|row| runner::LogRow { time: Some(timestamp(row.time)), content: row.content.clone() })
                .collect(),
            no_more,
        };
        let answer: runner::UpdateLogResponse = self
            .connection
            .unary(UPDATE_LOG, &request, CALL_TIMEOUT, &[])
            .await
            .map_err(|error| sink_error(error, true))?;
        Ok(answer.ack_index)
    }

    async fn update_task(
        &self,
        state: &TaskStateView,
        outputs: &BTreeMap<String, String>,
    ) -> Result<TaskAnswer, SinkError> {
        let request = runner::UpdateTaskRequest {
            state: Some(runner::TaskState {
                id: state.id,
                result: wire_result(state.result) as i32,
                started_at: state.started_at.map(timestamp),
                stopped_at: state.stopped_at.map(timestamp),
                steps: state.steps.iter().map(step_state).collect(),
            }),
            outputs: outputs.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
        };
        let answer: runner::UpdateTaskResponse = self
            .connection
            .unary(UPDATE_TASK, &request, CALL_TIMEOUT, &[])
            .await
            .map_err(|error| sink_error(error, false))?;
        let result = answer.state.map_or(TaskResult::Unspecified, |state| task_result(state.result));
        Ok(TaskAnswer { result, sent_outputs: answer.sent_outputs })
    }
}

fn step_state(step: &StepView) -> runner::StepState {
    runner::StepState {
        id: step.id,
        result: wire_result(step.result) as i32,
        started_at: step.started_at.map(timestamp),
        stopped_at: step.stopped_at.map(timestamp),
        log_index: step.log_index,
        log_length: step.log_length,
    }
}

pub(crate) fn wire_result(result: TaskResult) -> runner::Result {
    match result {
        TaskResult::Unspecified => runner::Result::Unspecified,
        TaskResult::Success => runner::Result::Success,
        TaskResult::Failure => runner::Result::Failure,
        TaskResult::Cancelled => runner::Result::Cancelled,
        TaskResult::Skipped => runner::Result::Skipped,
    }
}

/// Ours from the wire number; a number this runner does not know counts as not final.
pub(crate) fn task_result(number: i32) -> TaskResult {
    match runner::Result::try_from(number) {
        Ok(runner::Result::Success) => TaskResult::Success,
        Ok(runner::Result::Failure) => TaskResult::Failure,
        Ok(runner::Result::Cancelled) => TaskResult::Cancelled,
        Ok(runner::Result::Skipped) => TaskResult::Skipped,
        Ok(runner::Result::Unspecified) | Err(_) => TaskResult::Unspecified,
    }
}

/// `already_exists` means an archived log only on UpdateLog.
fn sink_error(error: ConnectError, log: bool) -> SinkError {
    let text = crate::error_chain(&error);
    match error.code() {
        Code::Unauthenticated => SinkError::Unauthenticated(text),
        Code::AlreadyExists if log => SinkError::LogArchived,
        _ if error.is_transient() => SinkError::Transient(text),
        _ => SinkError::Rejected(text),
    }
}
