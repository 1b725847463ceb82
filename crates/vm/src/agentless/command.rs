//! One short command in the guest over its own exec channel: what every file operation of the
//! agentless host is made of.

use engine::HostError;
use russh::ChannelMsg;
use russh::client::Msg;

use super::quote::quote;
use crate::ssh::Session;

/// Where every command line sent to the guest is traced (at debug level), so a reader of our
/// logs (and the tests) can see that no secret ever is in one.
pub(crate) const COMMAND_TARGET: &str = "vm::agentless::command";

/// What a finished command printed and how it ended.
pub(crate) struct Output {
    /// `None` when the channel closed without an exit status (e.g. killed by a signal).
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// The failure in the guest's own words, for an error message.
    pub fn failure(&self, command: &str) -> HostError {
        let status = self.status.map_or_else(|| "no exit status".to_owned(), |code| format!("exit code {code}"));
        let stderr = String::from_utf8_lossy(&self.stderr).trim().to_owned();
        HostError::Remote(format!("`{command}` in the guest failed ({status}): {stderr}"))
    }
}

/// Opens an exec channel for `command`, a POSIX `sh` command. The only place commands leave
/// for the guest.
pub(crate) async fn open(session: &Session, command: &str) -> Result<russh::Channel<Msg>, HostError> {
    tracing::debug!(target: COMMAND_TARGET, command, "exec in the guest");
    // The SSH server hands the line to the user's login shell, which need not be a POSIX shell
    // (csh on some BSD accounts); this line means the same to every shell.
    let line = format!("exec /bin/sh -c {}", quote(command));
    session.exec(&line).await.map_err(|e| HostError::Remote(crate::vm::chain(&e)))
}

/// Runs `command` with `stdin` (then EOF) and collects its output.
pub(crate) async fn run(session: &Session, command: &str, stdin: &[u8]) -> Result<Output, HostError> {
    let mut channel = open(session, command).await?;
    let lost = |e: russh::Error| HostError::Remote(format!("`{command}` in the guest: {e}"));
    if !stdin.is_empty() {
        channel.data(stdin).await.map_err(lost)?;
    }
    channel.eof().await.map_err(lost)?;
    let mut output = Output { status: None, stdout: Vec::new(), stderr: Vec::new() };
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => output.stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => output.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => output.status = Some(exit_status),
            _ => {}
        }
    }
    Ok(output)
}

/// Runs `command` and fails unless it exits 0.
pub(crate) async fn check(session: &Session, command: &str, stdin: &[u8]) -> Result<Output, HostError> {
    let output = run(session, command, stdin).await?;
    if output.success() { Ok(output) } else { Err(output.failure(command)) }
}
