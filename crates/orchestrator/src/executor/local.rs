//! The `local` executor: the agent as a child process of this one. No isolation at all.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use contract::{AgentEvent, ControlMessage};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::stderr_tail::StderrTail;
use super::{AgentOutput, Executor, ExecutorError, JobHandle, JobStart};

/// How long an agent may live on after closing its stdout.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct LocalExecutorConfig {
    /// The agent binary, usually from [`super::locate_agent`].
    pub agent: PathBuf,
    /// Where per-job work directories are made; `None`: the system's temp directory.
    pub work_root: Option<PathBuf>,
    /// How many of the agent's last stderr lines go into the error text when it dies.
    pub stderr_tail_lines: usize,
}

impl LocalExecutorConfig {
    pub fn new(agent: PathBuf) -> Self {
        LocalExecutorConfig { agent, work_root: None, stderr_tail_lines: 20 }
    }
}

#[derive(Debug, Clone)]
pub struct LocalExecutor {
    config: LocalExecutorConfig,
}

impl LocalExecutor {
    pub fn new(config: LocalExecutorConfig) -> Self {
        LocalExecutor { config }
    }
}

impl Executor for LocalExecutor {
    async fn start(&self, job: JobStart) -> Result<JobHandle, ExecutorError> {
        let request = &job.request;
        let root = self.config.work_root.clone().unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&root).map_err(|source| ExecutorError::WorkDir { dir: root.clone(), source })?;
        let work_dir = tempfile::Builder::new()
            .prefix(&format!("job-{}-{}-", request.job_id, request.attempt))
            .tempdir_in(&root)
            .map_err(|source| ExecutorError::WorkDir { dir: root.clone(), source })?;

        let mut command = Command::new(&self.config.agent);
        command
            .arg("--work-dir")
            .arg(work_dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        confine(&mut command);
        let mut child =
            command.spawn().map_err(|source| ExecutorError::Spawn { path: self.config.agent.clone(), source })?;
        tracing::debug!(agent = %self.config.agent.display(), pid = child.id(), work_dir = %work_dir.path().display(), "agent started");

        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ExecutorError::Handover(std::io::Error::other("the agent's pipes are missing")));
        };
        let start = ControlMessage::Start { request: Box::new(job.request), bus_key: job.bus_key };
        write_line(&mut stdin, &start).await.map_err(ExecutorError::Handover)?;

        let (control_tx, control_rx) = mpsc::channel(16);
        let (outputs_tx, outputs_rx) = mpsc::channel(256);
        let (kill_tx, kill_rx) = oneshot::channel();
        tokio::spawn(feed_stdin(stdin, control_rx).in_current_span());
        let stderr_task = tokio::spawn(read_stderr(stderr, self.config.stderr_tail_lines).in_current_span());
        let supervisor = Supervisor { child, outputs: outputs_tx, kill: Some(kill_rx), work_dir, stderr_task };
        tokio::spawn(supervisor.run(stdout).in_current_span());
        Ok(JobHandle::new(outputs_rx, control_tx, kill_tx))
    }
}

/// Makes a child (the agent, QEMU, passt) lead its own process group, so a Ctrl-C at the
/// terminal reaches only us (we turn it into a cancel that still runs `always()` steps) and a
/// kill can take the whole group; on Linux it also dies with us (PR_SET_PDEATHSIG).
pub fn confine(command: &mut Command) {
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent. The death signal is
    // tied to the thread that forks; tokio spawns from its long-lived worker threads.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

async fn write_line(stdin: &mut ChildStdin, message: &ControlMessage) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stdin.write_all(&line).await?;
    stdin.flush().await
}

/// Writes control messages to the agent's stdin until every sender is gone, then closes it.
async fn feed_stdin(mut stdin: ChildStdin, mut control: mpsc::Receiver<ControlMessage>) {
    while let Some(message) = control.recv().await {
        if let Err(error) = write_line(&mut stdin, &message).await {
            tracing::debug!(%error, "the agent's stdin is closed");
            return;
        }
    }
}

/// Relays the agent's stderr (its own tracing) into ours and keeps the last lines.
async fn read_stderr(stderr: impl AsyncRead + Unpin, keep: usize) -> Vec<String> {
    let mut tail = StderrTail::new(keep);
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_owned();
                tracing::debug!(target: "agent", "{line}");
                tail.push(line);
            }
        }
    }
    tail.into_lines()
}

struct Supervisor {
    child: Child,
    outputs: mpsc::Sender<AgentOutput>,
    /// Fires (or is dropped) when the agent must die; `None` once it did.
    kill: Option<oneshot::Receiver<()>>,
    work_dir: tempfile::TempDir,
    stderr_task: tokio::task::JoinHandle<Vec<String>>,
}

impl Supervisor {
    /// Reads stdout to its end (or until killed), reaps the agent, removes the work dir, and
    /// reports `Exited` last.
    async fn run(mut self, stdout: impl AsyncRead + Unpin) {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            // `buf` is cleared only after a whole line: a kill racing a read keeps the partial line.
            tokio::select! {
                read = reader.read_until(b'\n', &mut buf) => match read {
                    Ok(0) => {
                        if !buf.is_empty() {
                            let _ = self.outputs.send(parse_line(&buf)).await;
                        }
                        break;
                    }
                    Ok(_) => {
                        let output = parse_line(&buf);
                        buf.clear();
                        if self.outputs.send(output).await.is_err() && self.kill.take().is_some() {
                            // Nobody listens any more: the job is over for the orchestrator.
                            self.kill_group();
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the agent's stdout failed");
                        break;
                    }
                },
                _ = kill_requested(&mut self.kill) => self.kill_group(),
            }
        }
        // Its stdout is closed: an agent that does not exit soon after is stuck.
        let status = match tokio::time::timeout(EXIT_GRACE, self.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!("the agent closed its stdout but did not exit; killing it");
                self.kill_group();
                self.child.wait().await
            }
        };
        let stderr_tail = (&mut self.stderr_task).await.unwrap_or_default();
        let dir = self.work_dir.path().to_owned();
        if let Err(error) = self.work_dir.close() {
            tracing::warn!(%error, dir = %dir.display(), "removing the job's work dir failed");
        }
        let (status, success) = match status {
            Ok(status) => (describe(status), status.success()),
            Err(error) => (format!("unknown ({error})"), false),
        };
        tracing::debug!(%status, "agent exited");
        let _ = self.outputs.send(AgentOutput::Exited { status, success, stderr_tail }).await;
    }

    /// Waits for the agent to exit; a kill request while waiting still kills it.
    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        tokio::select! {
            status = self.child.wait() => status,
            _ = kill_requested(&mut self.kill) => {
                self.kill_group();
                self.child.wait().await
            }
        }
    }

    /// Kills the agent and whatever else runs in its process group.
    fn kill_group(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) with a negative pid signals the process group the agent leads.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

/// Resolves once when the kill switch fires or its sender is dropped; pending after that.
async fn kill_requested(kill: &mut Option<oneshot::Receiver<()>>) {
    match kill {
        Some(receiver) => {
            let _ = receiver.await;
            *kill = None;
        }
        None => std::future::pending().await,
    }
}

fn parse_line(raw: &[u8]) -> AgentOutput {
    let text = String::from_utf8_lossy(raw);
    let line = text.trim_end_matches(['\n', '\r']);
    match serde_json::from_str::<AgentEvent>(line) {
        Ok(event) => AgentOutput::Event(event),
        Err(error) => AgentOutput::Invalid { line: line.to_owned(), error: error.to_string() },
    }
}

fn describe(status: ExitStatus) -> String {
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
