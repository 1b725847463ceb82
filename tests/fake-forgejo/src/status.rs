//! The server's status of jobs, tasks and steps.

use crate::proto::runner::v1::Result as WireResult;

/// A job, task or step status as Forgejo keeps it. The first five share their numbers with
/// `runner.v1.Result`; the server casts between the two numerically (forgejo.md §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Unknown,
    Success,
    Failure,
    Cancelled,
    Skipped,
    Waiting,
    Running,
    Blocked,
}

impl Status {
    /// The status a runner's `Result` number stands for; numbers the wire does not define are
    /// treated as "not final", like an unspecified result.
    pub fn from_result(result: i32) -> Status {
        match WireResult::try_from(result) {
            Ok(WireResult::Success) => Status::Success,
            Ok(WireResult::Failure) => Status::Failure,
            Ok(WireResult::Cancelled) => Status::Cancelled,
            Ok(WireResult::Skipped) => Status::Skipped,
            Ok(WireResult::Unspecified) | Err(_) => Status::Unknown,
        }
    }

    /// The wire `Result` of a final status, `RESULT_UNSPECIFIED` for any other.
    pub fn to_result(self) -> WireResult {
        match self {
            Status::Success => WireResult::Success,
            Status::Failure => WireResult::Failure,
            Status::Cancelled => WireResult::Cancelled,
            Status::Skipped => WireResult::Skipped,
            _ => WireResult::Unspecified,
        }
    }

    /// Whether nothing a runner sends changes this status any more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Success | Status::Failure | Status::Cancelled | Status::Skipped)
    }

    /// "Has run" in the UI's sense: success or failure only (forgejo.md §4, the quirk).
    pub fn has_run(self) -> bool {
        matches!(self, Status::Success | Status::Failure)
    }
}
