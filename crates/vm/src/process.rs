//! Child processes of the executor (QEMU, passt, the tools): confined so they die with us, and
//! stopped by their own ids only.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::netns::Netns;

/// A command that leads its own process group (a terminal's Ctrl-C reaches only the
/// orchestrator), dies with the orchestrator on Linux (`PR_SET_PDEATHSIG`), is killed when its
/// `Child` is dropped, and runs in `netns` when given.
pub(crate) fn confined(program: &std::path::Path, netns: Option<&Netns>) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null()).kill_on_drop(true);
    // Spawned from tokio's long-lived threads, never from a short-lived helper thread: the death
    // signal is tied to the thread that forks.
    orchestrator::confine(&mut command);
    if let Some(netns) = netns {
        netns.enter_on_exec(&mut command);
    }
    command
}

/// Runs a short tool to completion; its stderr (or stdout) becomes the error text on failure.
pub(crate) async fn run_tool(mut command: Command, what: &str, timeout: Duration) -> Result<(), ToolError> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let program = command.as_std().get_program().to_string_lossy().into_owned();
    let child = command.spawn().map_err(|source| ToolError::Spawn { program: program.clone(), source })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output.map_err(|source| ToolError::Spawn { program: program.clone(), source })?,
        // Dropping the future dropped the child, which kill_on_drop killed.
        Err(_) => return Err(ToolError::Timeout { what: what.to_owned(), secs: timeout.as_secs() }),
    };
    if output.status.success() {
        return Ok(());
    }
    let text = if output.stderr.is_empty() { &output.stdout } else { &output.stderr };
    Err(ToolError::Failed {
        what: what.to_owned(),
        status: describe(output.status),
        output: String::from_utf8_lossy(text).trim().to_owned(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("start {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: no answer within {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("{what}: {status}: {output}")]
    Failed { what: String, status: String, output: String },
}

/// Kills `child` (SIGKILL) and reaps it.
pub(crate) async fn kill_and_reap(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Waits up to `grace` for `child` to exit by itself, then kills it; reaps it either way.
pub(crate) async fn reap_within(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            kill_and_reap(child).await;
            None
        }
    }
}

/// `exit code 3`, `killed by signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}
