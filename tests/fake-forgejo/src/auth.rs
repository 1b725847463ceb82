//! The runner authentication every RPC but Register and Ping goes through (forgejo.md §1.3).

use axum::http::HeaderMap;
use time::OffsetDateTime;

use crate::connect_error::{Code, ConnectError};
use crate::state::State;

/// Finds the calling runner by `x-runner-uuid` and checks `x-runner-token`; stamps
/// `last_online`, and `last_active` when the call reports on a task.
pub(crate) fn authenticate(state: &mut State, headers: &HeaderMap, reports_on_task: bool) -> Result<i64, ConnectError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let uuid = header("x-runner-uuid").unwrap_or("");
    let token = header("x-runner-token").unwrap_or("");
    // §1.3: an unknown uuid (a deleted ephemeral runner too) is "unregistered runner".
    let Some(runner) = state.runners.values_mut().find(|runner| runner.uuid == uuid) else {
        return Err(ConnectError::new(Code::Unauthenticated, "unregistered runner"));
    };
    // §1.3: the token is compared with the stored (hashed) one; a mismatch is unauthenticated.
    if runner.token != token {
        return Err(ConnectError::new(Code::Unauthenticated, "runner token mismatch"));
    }
    let now = OffsetDateTime::now_utc();
    runner.last_online = Some(now);
    if reports_on_task {
        runner.last_active = Some(now);
    }
    Ok(runner.id)
}
