//! FetchTask: picking a waiting job for a runner and assembling the Task (forgejo.md §3.4, §3.5).

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::connect_error::{Code, ConnectError};
use crate::context::{task_context, task_secrets};
use crate::proto::runner::v1 as wire;
use crate::state::{State, Step, Task, new_token};
use crate::status::Status;

pub(crate) fn fetch_task(
    state: &mut State,
    runner_id: i64,
    request_key: Option<&str>,
    request: wire::FetchTaskRequest,
) -> Result<wire::FetchTaskResponse, ConnectError> {
    // §3.4 step 1: a retried call with the same key gets its tasks again, with new tokens and
    // tasks_version 0.
    if let Some(key) = request_key.filter(|key| !key.is_empty()) {
        let assigned = state
            .tasks
            .values()
            .find(|task| task.runner_id == runner_id && task.request_key.as_deref() == Some(key))
            .map(|task| task.id);
        if let Some(task_id) = assigned {
            if let Some(task) = state.tasks.get_mut(&task_id) {
                task.token = new_token();
            }
            return Ok(wire::FetchTaskResponse { task: Some(wire_task(state, task_id)?), tasks_version: 0 });
        }
    }

    // §3.4 steps 2 and 3: nothing became waiting since the caller last asked.
    let latest = state.tasks_version;
    let nothing = wire::FetchTaskResponse { task: None, tasks_version: latest };
    if request.tasks_version == latest {
        return Ok(nothing);
    }
    let Some(runner) = state.runners.get(&runner_id) else {
        return Err(ConnectError::new(Code::Unauthenticated, "unregistered runner"));
    };
    // §3.4 step 5 and §6: an ephemeral runner gets at most one task, ever.
    if runner.ephemeral && runner.tasks_taken > 0 {
        return Ok(nothing);
    }

    // §3.4 step 4: the oldest waiting job of the runner's scope whose runs-on labels are all
    // the runner's; an empty label set on either side never matches.
    let picked = state
        .jobs
        .iter()
        .filter(|(_, job)| job.status == Status::Waiting && job.task_id.is_none())
        .filter(|(_, job)| runner.scope.covers(&job.spec.repository))
        .find(|(_, job)| {
            !runner.labels.is_empty()
                && !job.spec.runs_on.is_empty()
                && job.spec.runs_on.iter().all(|label| runner.labels.contains(label))
        })
        .map(|(id, _)| *id);
    let Some(job_id) = picked else {
        return Ok(nothing);
    };

    let task_id = state.allocate_id();
    let Some(job) = state.jobs.get_mut(&job_id) else {
        return Ok(nothing);
    };
    job.status = Status::Running;
    job.task_id = Some(task_id);
    // §3.4 step 4: one step record per payload step, waiting until the runner reports on it.
    let steps = job
        .spec
        .steps
        .iter()
        .map(|name| Step {
            name: name.clone(),
            status: Status::Waiting,
            log_index: 0,
            log_length: 0,
            started: None,
            stopped: None,
        })
        .collect();
    state.tasks.insert(
        task_id,
        Task {
            id: task_id,
            job_id,
            runner_id,
            token: new_token(),
            request_key: request_key.map(str::to_string),
            status: Status::Running,
            started: OffsetDateTime::now_utc(),
            stopped: None,
            updated: Instant::now(),
            steps,
            outputs: Default::default(),
            rows: Vec::new(),
            log_archived: false,
        },
    );
    if let Some(runner) = state.runners.get_mut(&runner_id) {
        runner.tasks_taken += 1;
    }
    // §3.4 step 6: the current version even when a task is returned.
    Ok(wire::FetchTaskResponse { task: Some(wire_task(state, task_id)?), tasks_version: latest })
}

/// The Task message of a stored task (§3.5).
fn wire_task(state: &State, task_id: i64) -> Result<wire::Task, ConnectError> {
    let internal = |message: String| ConnectError::new(Code::Internal, message);
    let task = state.tasks.get(&task_id).ok_or_else(|| internal(format!("task {task_id} not found")))?;
    let job = state.jobs.get(&task.job_id).ok_or_else(|| internal(format!("job {} not found", task.job_id)))?;
    let context = task_context(&job.spec, &state.url, task.job_id, task.id, &task.token)
        .map_err(|error| internal(format!("context: {error}")))?;
    let needs = job
        .spec
        .needs
        .iter()
        .map(|(id, need)| {
            let need = wire::TaskNeed {
                outputs: need.outputs.clone().into_iter().collect(),
                result: need.result.to_result() as i32,
            };
            (id.clone(), need)
        })
        .collect();
    Ok(wire::Task {
        id: task.id,
        workflow_payload: Some(job.spec.payload_yaml.clone().into_bytes()),
        context: Some(context),
        secrets: task_secrets(&job.spec, &task.token),
        machine: String::new(),
        needs,
        vars: job.spec.vars.clone().into_iter().collect(),
    })
}
