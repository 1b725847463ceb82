//! What a user sees on the job page: "Set up job", the payload's steps and "Complete job", each
//! with its status and rows, computed from the stored rows and step ranges (forgejo.md §4).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::state::{Job, State, Task};
use crate::status::Status;

pub const SET_UP_JOB: &str = "Set up job";
pub const COMPLETE_JOB: &str = "Complete job";

/// A job as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobView {
    pub status: Status,
    /// The id of the task that runs or ran the job.
    pub task_id: Option<i64>,
    /// "Set up job", one entry per payload step, "Complete job".
    pub steps: Vec<StepView>,
    pub outputs: BTreeMap<String, String>,
    pub log_archived: bool,
    /// When the task started, and when it stopped (as the runner reported, or the server decided).
    pub started: Option<OffsetDateTime>,
    pub stopped: Option<OffsetDateTime>,
}

impl JobView {
    /// The step of that name, pseudo-steps included.
    pub fn step(&self, name: &str) -> Option<&StepView> {
        self.steps.iter().find(|step| step.name == name)
    }
}

/// One collapsible section of the job page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepView {
    pub name: String,
    pub status: Status,
    /// The contents of the rows in the step's range, as stored.
    pub rows: Vec<String>,
}

pub(crate) fn job_view(state: &State, job: &Job) -> JobView {
    let task = job.task_id.and_then(|id| state.tasks.get(&id));
    let Some(task) = task else {
        // Not picked yet: every section waits, with no rows.
        let waiting = |name: &str| StepView { name: name.to_string(), status: Status::Waiting, rows: Vec::new() };
        let mut steps = vec![waiting(SET_UP_JOB)];
        steps.extend(job.spec.steps.iter().map(|name| waiting(name)));
        steps.push(waiting(COMPLETE_JOB));
        return JobView {
            status: job.status,
            task_id: None,
            steps,
            outputs: BTreeMap::new(),
            log_archived: false,
            started: None,
            stopped: None,
        };
    };
    JobView {
        status: job.status,
        task_id: Some(task.id),
        steps: task_steps(task),
        outputs: task.outputs.clone(),
        log_archived: task.log_archived,
        started: Some(task.started),
        stopped: task.stopped,
    }
}

fn task_steps(task: &Task) -> Vec<StepView> {
    let total = task.rows.len() as i64;
    let rows = |start: i64, length: i64| -> Vec<String> {
        let start = start.clamp(0, total);
        let end = start.saturating_add(length.max(0)).min(total);
        task.rows[start as usize..end as usize].iter().map(|row| row.content.clone()).collect()
    };
    let done = task.status.is_final();
    // A job without steps shows the two pseudo-steps only: all rows are the set-up's.
    if task.steps.is_empty() {
        return vec![
            StepView {
                name: SET_UP_JOB.to_string(),
                status: if done { task.status } else { Status::Running },
                rows: rows(0, total),
            },
            StepView {
                name: COMPLETE_JOB.to_string(),
                status: if done { task.status } else { Status::Waiting },
                rows: Vec::new(),
            },
        ];
    }

    // "Set up job": rows up to the first step that ran or runs; success once there is one, else
    // it mirrors the task and holds the whole log.
    let first = task.steps.iter().find(|step| step.status.has_run() || step.status == Status::Running);
    let (setup_length, setup_status) = match first {
        Some(first) => (first.log_index, Status::Success),
        None if done => (total, task.status),
        None => (total, Status::Running),
    };
    let mut views = vec![StepView { name: SET_UP_JOB.to_string(), status: setup_status, rows: rows(0, setup_length) }];
    views.extend(task.steps.iter().map(|step| StepView {
        name: step.name.clone(),
        status: step.status,
        rows: rows(step.log_index, step.log_length),
    }));

    // "Complete job": from set-up length plus every step's length to the end, visible once the
    // last step has run (success or failure, the quirk of §4) or any step failed.
    let complete_start = setup_length + task.steps.iter().map(|step| step.log_length).sum::<i64>();
    let visible = task.steps.last().is_some_and(|step| step.status.has_run())
        || task.steps.iter().any(|step| step.status == Status::Failure);
    let complete_status = if done {
        task.status
    } else if visible {
        Status::Running
    } else {
        Status::Waiting
    };
    views.push(StepView {
        name: COMPLETE_JOB.to_string(),
        status: complete_status,
        rows: if visible { rows(complete_start, total - complete_start) } else { Vec::new() },
    });
    views
}
