//! UpdateTask: heartbeats, step states, the final result and outputs (forgejo.md §3.6).

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::connect_error::{Code, ConnectError};
use crate::proto::runner::v1 as wire;
use crate::state::State;
use crate::status::Status;

/// §3.6 step 5 and §7 item 10: the limits beyond which an output is silently dropped.
const MAX_OUTPUT_KEY_BYTES: usize = 255;
const MAX_OUTPUT_VALUE_BYTES: usize = 1024 * 1024;

pub(crate) fn update_task(
    state: &mut State,
    runner_id: i64,
    request: wire::UpdateTaskRequest,
) -> Result<wire::UpdateTaskResponse, ConnectError> {
    let reported = request.state.unwrap_or_default();
    // §3.6 step 1 and §1.4: a missing task or another runner's task is an internal error.
    let Some(task) = state.tasks.get_mut(&reported.id).filter(|task| task.runner_id == runner_id) else {
        return Err(ConnectError::new(Code::Internal, format!("update task: task {} not found", reported.id)));
    };
    let reported_result = Status::from_result(reported.result);

    // §3.6 step 2: a task the server already finished (user cancel, zombie) is left as it is;
    // the answer below carries its result, which is how a cancel reaches the runner.
    if !task.status.is_final() {
        if reported_result.is_final() {
            // §3.6 step 3: a missing stopped_at becomes 0.
            task.status = reported_result;
            task.stopped = Some(reported.stopped_at.as_ref().and_then(timestamp).unwrap_or(OffsetDateTime::UNIX_EPOCH));
        } else {
            // §3.6 step 3: a heartbeat keeps the zombie timer away.
            task.updated = Instant::now();
        }
        // §3.6 step 4: each stored step copies the state of the same index; a step left out keeps
        // its ranges but turns running once it has started.
        for (index, step) in task.steps.iter_mut().enumerate() {
            let mut result = Status::Unknown;
            if let Some(sent) = reported.steps.iter().find(|sent| sent.id == index as i64) {
                result = Status::from_result(sent.result);
                step.log_index = sent.log_index;
                step.log_length = sent.log_length;
                step.started = sent.started_at.as_ref().and_then(timestamp);
                step.stopped = sent.stopped_at.as_ref().and_then(timestamp);
            }
            if result.is_final() {
                step.status = result;
            } else if step.started.is_some() {
                step.status = Status::Running;
            }
        }
        let (job_id, status) = (task.job_id, task.status);
        if status.is_final()
            && let Some(job) = state.jobs.get_mut(&job_id)
        {
            job.status = status;
        }
    }

    // §3.6 step 5: outputs are stored once per key, also for a task already final (the server
    // stores them after the state update, whatever it did), oversized ones silently dropped.
    let Some(task) = state.tasks.get_mut(&reported.id) else {
        return Err(ConnectError::new(Code::Internal, "update task: task vanished"));
    };
    for (key, value) in request.outputs {
        if key.len() > MAX_OUTPUT_KEY_BYTES || value.len() > MAX_OUTPUT_VALUE_BYTES {
            continue;
        }
        task.outputs.entry(key).or_insert(value);
    }
    let sent_outputs = task.outputs.keys().cloned().collect();
    let answer = wire::TaskState {
        id: task.id,
        // §3.6 step 7: the server's status when final, else unspecified.
        result: task.status.to_result() as i32,
        ..Default::default()
    };

    // §3.6 step 6: an ephemeral runner is deleted once it reports a final result.
    if reported_result.is_final() && state.runners.get(&runner_id).is_some_and(|runner| runner.ephemeral) {
        state.runners.remove(&runner_id);
    }
    Ok(wire::UpdateTaskResponse { state: Some(answer), sent_outputs })
}

pub(crate) fn timestamp(stamp: &pbjson_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(stamp.seconds) * 1_000_000_000 + i128::from(stamp.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}
