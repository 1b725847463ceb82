//! UpdateLog: appending rows at an absolute index and acknowledging (forgejo.md §3.7).

use tokio::time::Instant;

use crate::connect_error::{Code, ConnectError};
use crate::proto::runner::v1 as wire;
use crate::runners::truncate_at_char;
use crate::state::{State, StoredRow};
use crate::task_update::timestamp;

/// §3.7: the longest content the server keeps of one row.
const MAX_ROW_BYTES: usize = 64 * 1024;

pub(crate) fn update_log(
    state: &mut State,
    runner_id: i64,
    request: wire::UpdateLogRequest,
) -> Result<wire::UpdateLogResponse, ConnectError> {
    // §1.4: a missing task or another runner's task is an internal error.
    let Some(task) = state.tasks.get_mut(&request.task_id).filter(|task| task.runner_id == runner_id) else {
        return Err(ConnectError::new(Code::Internal, format!("update log: task {} not found", request.task_id)));
    };
    let ack = task.rows.len() as i64;
    let count = request.rows.len() as i64;
    // §3.7: an empty batch, a gap or nothing new writes nothing, and `no_more` is ignored then.
    if count == 0 || request.index > ack || request.index + count <= ack {
        return Ok(wire::UpdateLogResponse { ack_index: ack });
    }
    // §3.7: new rows for a log already moved to storage are refused.
    if task.log_archived {
        return Err(ConnectError::new(Code::AlreadyExists, "log file has been archived"));
    }
    // §3.7: rows the server already holds are skipped, the rest appended.
    let skip = usize::try_from(ack - request.index).unwrap_or(0);
    for row in request.rows.into_iter().skip(skip) {
        task.rows
            .push(StoredRow { time: row.time.as_ref().and_then(timestamp), content: stored_content(&row.content) });
    }
    // §3.7: a batch that writes rows and says no_more archives the log.
    if request.no_more {
        task.log_archived = true;
    }
    // §3.8: a log write bumps the task's `updated` like a heartbeat.
    task.updated = Instant::now();
    Ok(wire::UpdateLogResponse { ack_index: task.rows.len() as i64 })
}

/// §3.7: a newline inside content becomes the two characters `\n`, then the content is cut to
/// 64 KiB (on a character boundary, as a Rust string must be).
fn stored_content(content: &str) -> String {
    let mut stored = content.replace('\n', "\\n");
    truncate_at_char(&mut stored, MAX_ROW_BYTES);
    stored
}
