//! A step's process in the guest: one exec channel per process, started through a fixed
//! launcher so that neither the environment nor any other value of the step is ever part of a
//! command line.
//!
//! The command line is always [`LAUNCHER`]: a shell with an empty environment that reads a
//! script from the channel's stdin and runs it. That script (built by [`launch_script`]) closes
//! stdin, exports the step's environment, enters the working directory, prints the process
//! group id on the first stdout line and `exec`s the program, which so keeps the launcher's pid.
//! Secrets a step's `env:` holds therefore travel inside the SSH channel's data, never in argv,
//! an SSH `env` request or a file. Signals go through a second exec channel (`kill` on the
//! negative group id), because dropbear does not forward SSH `signal` requests.

use async_trait::async_trait;
use engine::{Exit, HostError, Process, Signal, SpawnSpec, Spawned};
use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::command;
use super::quote::{is_shell_name, quote, quote_path};
use crate::ssh::Session;

/// The one command line every step process starts with: no value of the step is in it.
const LAUNCHER: &str = "exec env -i /bin/sh -c 'eval \"$(cat)\"'";

/// The first stdout line of a launched process, before the program's own output.
const PGID_PREFIX: &str = "solstice-pgid ";

/// What the agent's `spawn` reports for a missing directory or program, and for one that cannot
/// be executed (Rust's `std::io::Error` text on Linux).
const ENOENT: &str = "No such file or directory (os error 2)";
const EACCES: &str = "Permission denied (os error 13)";

/// How much of the launcher's stderr is kept for a spawn error.
const EARLY_STDERR_BYTES: usize = 4096;

/// How much of a pipe's data waits for the engine to read it.
const PIPE_BYTES: usize = 64 * 1024;

/// A request to signal a process group, served by the task that owns the SSH session (the
/// session is borrowed and processes must be `'static`).
pub(crate) struct SignalRequest {
    pub pgid: u32,
    pub signal: Signal,
    pub reply: oneshot::Sender<Result<bool, HostError>>,
}

/// Signals `pgid`'s group with `kill` in the guest. `Ok(false)` when no process of it is left.
pub(crate) async fn signal_group(session: &Session, pgid: u32, signal: Signal) -> Result<bool, HostError> {
    let name = match signal {
        Signal::Interrupt => "INT",
        Signal::Terminate => "TERM",
        Signal::Kill => "KILL",
    };
    let output = command::run(session, &format!("kill -s {name} -- -{pgid}"), b"").await?;
    Ok(output.success())
}

/// Starts `spec` in the guest and waits until it runs (or failed to start).
pub(crate) async fn spawn(
    session: &Session,
    spec: SpawnSpec,
    signals: mpsc::Sender<SignalRequest>,
) -> Result<Spawned, HostError> {
    let failed = |reason: String| HostError::Spawn {
        program: spec.program.clone(),
        cwd: spec.cwd.clone(),
        source: std::io::Error::other(reason),
    };
    let script = launch_script(&spec);
    let channel = command::open(session, LAUNCHER).await?;
    channel.data(script.as_bytes()).await.map_err(|e| failed(format!("send the launch script: {e}")))?;
    channel.eof().await.map_err(|e| failed(format!("send the launch script: {e}")))?;

    let (stdout_writer, stdout) = tokio::io::duplex(PIPE_BYTES);
    let (stderr_writer, stderr) = tokio::io::duplex(PIPE_BYTES);
    let (started_tx, started_rx) = oneshot::channel();
    let (exit_tx, exit_rx) = watch::channel(None);
    let pump = Pump {
        started: Some(started_tx),
        first_line: Vec::new(),
        early_stderr: Vec::new(),
        stdout: Some(stdout_writer),
        stderr: Some(stderr_writer),
        exit: None,
        exit_tx,
    };
    tokio::spawn(pump.run(channel));
    let pgid = match started_rx.await {
        Ok(Ok(pgid)) => pgid,
        Ok(Err(reason)) => return Err(failed(reason)),
        Err(_) => return Err(failed("the channel's reader stopped".to_owned())),
    };
    Ok(Spawned {
        process: Box::new(SshProcess { pgid, exit: exit_rx, signals }),
        stdout: Box::new(stdout),
        stderr: Box::new(stderr),
    })
}

/// The script the launcher runs. Only variables `sh` can export are passed; others are left
/// out with a warning (a name like `A-B` cannot be set from a POSIX shell).
fn launch_script(spec: &SpawnSpec) -> String {
    let mut script = String::from("exec </dev/null\n");
    for (name, value) in &spec.env {
        if is_shell_name(name) {
            script.push_str(&format!("{name}={}; export {name}\n", quote(value)));
        } else {
            tracing::warn!(name, "a step's variable whose name sh cannot export is left out");
        }
    }
    let program = quote_path(&spec.program);
    let mut argv = program.clone();
    for arg in &spec.args {
        argv.push(' ');
        argv.push_str(&quote(arg));
    }
    // The failures say what `spawn` says on this machine, so a step's log reads the same with
    // and without an agent.
    let cwd = quote_path(&spec.cwd);
    script.push_str(&format!("if [ ! -d {cwd} ]; then echo '{ENOENT}' >&2; exit 127; fi\n"));
    script.push_str(&format!("cd {cwd} || exit 127\n"));
    script.push_str(&format!("if [ ! -e {program} ]; then echo '{ENOENT}' >&2; exit 127; fi\n"));
    script.push_str(&format!("if [ ! -f {program} ] || [ ! -x {program} ]; then echo '{EACCES}' >&2; exit 127; fi\n"));
    // The exec'd program keeps this shell's pid. It leads its own process group when the SSH
    // server made the session (OpenSSH and dropbear call setsid for each session); where it
    // did not, `setsid` makes it so without a fork, as the shell is then no group leader.
    script.push_str("pgid=$$\n");
    script.push_str("if [ -r /proc/$$/stat ]; then read -r _ _ _ _ pgid _ < /proc/$$/stat; fi\n");
    script.push_str(&format!("echo \"{PGID_PREFIX}$$\"\n"));
    script.push_str(&format!("if [ \"$pgid\" != \"$$\" ]; then exec setsid {argv}; fi\n"));
    script.push_str(&format!("exec {argv}\n"));
    script
}

/// Moves a process channel's data into the step's pipes and its end into `exit`.
struct Pump {
    /// Reports the group id (from the first stdout line), or why the program never started.
    started: Option<oneshot::Sender<Result<u32, String>>>,
    first_line: Vec<u8>,
    /// stderr before the program started: the launcher's complaint, if it has one.
    early_stderr: Vec<u8>,
    stdout: Option<DuplexStream>,
    stderr: Option<DuplexStream>,
    exit: Option<Exit>,
    exit_tx: watch::Sender<Option<Result<Exit, String>>>,
}

impl Pump {
    async fn run(mut self, mut channel: Channel<Msg>) {
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => self.stdout(&data).await,
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    if self.started.is_some() {
                        // Only the launcher writes here before the program runs; keep enough
                        // for its complaint and no more.
                        let room = EARLY_STDERR_BYTES.saturating_sub(self.early_stderr.len());
                        self.early_stderr.extend_from_slice(&data[..room.min(data.len())]);
                    } else {
                        write(&mut self.stderr, &data).await;
                    }
                }
                ChannelMsg::Eof => {
                    self.stdout = None;
                    self.stderr = None;
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    self.exit = Some(Exit::Code(i32::try_from(exit_status).unwrap_or(i32::MAX)));
                }
                ChannelMsg::ExitSignal { signal_name, .. } => self.exit = Some(Exit::Signal(number(&signal_name))),
                _ => {}
            }
        }
        if let Some(started) = self.started.take() {
            let stderr = String::from_utf8_lossy(&self.early_stderr).trim().to_owned();
            let reason =
                if stderr.is_empty() { "the launcher ended before the program ran".to_owned() } else { stderr };
            let _ = started.send(Err(reason));
        }
        self.stdout = None;
        self.stderr = None;
        let end = self.exit.ok_or_else(|| "the SSH channel closed without an exit status".to_owned());
        let _ = self.exit_tx.send(Some(end));
    }

    async fn stdout(&mut self, data: &[u8]) {
        if self.started.is_none() {
            write(&mut self.stdout, data).await;
            return;
        }
        self.first_line.extend_from_slice(data);
        let Some(end) = self.first_line.iter().position(|&b| b == b'\n') else { return };
        let rest = self.first_line.split_off(end + 1);
        let line = String::from_utf8_lossy(&self.first_line).trim().to_owned();
        let pgid = line.strip_prefix(PGID_PREFIX).and_then(|id| id.parse::<u32>().ok());
        if let Some(started) = self.started.take() {
            let _ = started.send(pgid.ok_or_else(|| format!("the launcher printed {line:?} instead of a group id")));
        }
        let early = std::mem::take(&mut self.early_stderr);
        write(&mut self.stderr, &early).await;
        write(&mut self.stdout, &rest).await;
    }
}

/// Writes to a step's pipe; once the engine stopped reading it, data is dropped.
async fn write(pipe: &mut Option<DuplexStream>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    if let Some(writer) = pipe
        && writer.write_all(data).await.is_err()
    {
        *pipe = None;
    }
}

/// The signal's number on Linux and illumos alike for the ones SSH names (USR1 differs; it is
/// not one a step's end reports in practice).
fn number(signal: &Sig) -> i32 {
    match signal {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => 0,
    }
}

struct SshProcess {
    pgid: u32,
    exit: watch::Receiver<Option<Result<Exit, String>>>,
    signals: mpsc::Sender<SignalRequest>,
}

#[async_trait]
impl Process for SshProcess {
    fn id(&self) -> u32 {
        self.pgid
    }

    async fn wait(&self) -> Result<Exit, HostError> {
        let mut exit = self.exit.clone();
        let ended = exit.wait_for(Option::is_some).await.map(|end| end.clone());
        match ended {
            Ok(Some(Ok(exit))) => Ok(exit),
            Ok(Some(Err(reason))) => Err(HostError::Remote(reason)),
            _ => Err(HostError::Remote("the process's channel reader vanished".to_owned())),
        }
    }

    async fn signal_group(&self, signal: Signal) -> Result<bool, HostError> {
        let (reply, answer) = oneshot::channel();
        let request = SignalRequest { pgid: self.pgid, signal, reply };
        if self.signals.send(request).await.is_err() {
            return Err(HostError::Remote("the SSH session of the job is gone".to_owned()));
        }
        answer.await.map_err(|_| HostError::Remote("the SSH session of the job is gone".to_owned()))?
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn no_value_of_the_step_is_in_the_command_line() {
        let spec = SpawnSpec {
            program: "/bin/sh".into(),
            args: vec!["-e".into(), "/w/_temp/step_0.sh".into()],
            env: BTreeMap::from([("TOKEN".to_owned(), "it's secret".to_owned()), ("A-B".to_owned(), "x".to_owned())]),
            cwd: "/w/repo repo".into(),
        };
        let script = launch_script(&spec);
        assert!(!LAUNCHER.contains("secret"));
        assert!(script.contains("TOKEN='it'\\''s secret'; export TOKEN\n"), "{script}");
        assert!(!script.contains("A-B"), "{script}");
        assert!(script.contains("cd '/w/repo repo' || exit 127\n"), "{script}");
        assert!(script.contains("if [ ! -d '/w/repo repo' ]; then echo 'No such file"), "{script}");
        assert!(script.ends_with("exec '/bin/sh' '-e' '/w/_temp/step_0.sh'\n"), "{script}");
    }
}
