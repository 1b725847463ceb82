//! The directories of a job on the host, in GitHub's `_work` layout.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Layout {
    /// `github.workspace`: `<work>/<repo>/<repo>`.
    pub workspace: PathBuf,
    /// `runner.workspace`: `<work>/<repo>`.
    pub runner_workspace: PathBuf,
    /// `runner.temp`: `<work>/_temp`, emptied when the job starts.
    pub temp: PathBuf,
    /// `runner.tool_cache`: `<work>/_tool`.
    pub tool_cache: PathBuf,
    /// Where the per-step `GITHUB_*` files live.
    pub file_commands: PathBuf,
    /// `GITHUB_EVENT_PATH`: `github.event` as JSON.
    pub event_path: PathBuf,
}

impl Layout {
    /// `repository` is `owner/name`; its name (or `workspace` without one) names the directories.
    pub fn new(work: &Path, repository: &str) -> Layout {
        let name = repository
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && *n != "." && *n != ".." && !n.starts_with('_'))
            .unwrap_or("workspace");
        let runner_workspace = work.join(name);
        let temp = work.join("_temp");
        Layout {
            workspace: runner_workspace.join(name),
            runner_workspace,
            file_commands: temp.join("_runner_file_commands"),
            event_path: temp.join("_github_workflow").join("event.json"),
            tool_cache: work.join("_tool"),
            temp,
        }
    }
}
