//! The daemon under test: in-process through `run`, or the real binary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use contract::BusKey;
use orchestrator_daemon::{DaemonError, ExecutorKind, Settings};
use tokio::sync::oneshot;

use super::runner::LABEL;

/// A state dir and an agent dir holding the fake agent for the host's target.
pub struct Dirs {
    pub state: tempfile::TempDir,
    pub agents: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Dirs {
        let agents = tempfile::tempdir().unwrap();
        let target = agents.path().join(orchestrator::HOST_TARGET);
        std::fs::create_dir_all(&target).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/agent.sh");
        std::os::unix::fs::symlink(script, target.join(orchestrator::AGENT_NAME)).unwrap();
        Dirs { state: tempfile::tempdir().unwrap(), agents }
    }
}

pub fn settings(amqp_url: &str, database_url: &str, state_dir: &Path, agent_dir: &Path) -> Settings {
    Settings {
        amqp: bus::AmqpSettings::new(amqp_url),
        database_url: database_url.to_owned(),
        state_dir: state_dir.to_owned(),
        labels: vec![LABEL.to_owned()],
        capacity: 2,
        executor: ExecutorKind::Local,
        guest_network: orchestrator_daemon::GuestNetwork::None,
        bus_key: key(),
        agent_dir: Some(agent_dir.to_owned()),
        // Long enough that a slow heartbeat on a loaded machine never costs the lease (the
        // daemon exits 3 after half of it), short enough for take-overs within a test.
        lease_ttl: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(10),
        database_budget: Duration::from_secs(5),
        metrics_addr: None,
    }
}

/// One bus key for every test: orchestrators of a test must share it.
pub fn key() -> BusKey {
    BusKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap()
}

/// The daemon running in this process, on a runtime of its own as in the binary (`run` is
/// driven by `block_on`, so its future need not be `Send`).
pub struct InProcess {
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), DaemonError>>,
}

impl InProcess {
    pub fn start(settings: Settings) -> InProcess {
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(orchestrator_daemon::run(settings, async move {
                let _ = stopped.await;
            }))
        });
        InProcess { stop, thread }
    }

    /// Shuts it down as SIGTERM would, and returns how it ended.
    pub async fn stop(self) -> Result<(), DaemonError> {
        let _ = self.stop.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join().expect("the daemon does not panic")).await.unwrap()
    }
}

/// The `orchestrator` binary, with none of the test's own `SOLSTICE_*` variables.
pub fn binary(command: std::process::Command) -> std::process::Command {
    let mut command = command;
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SOLSTICE_") {
            command.env_remove(name);
        }
    }
    command
}

/// The binary running as a child of the test, its stderr (the daemon's log) in a file of its
/// own; killed by its pid if the test ends first.
pub struct Spawned {
    child: std::process::Child,
    log: PathBuf,
    _logs: tempfile::TempDir,
}

impl Spawned {
    /// Starts `command` (see [`binary`]).
    pub fn start(mut command: std::process::Command) -> Spawned {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("orchestrator.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start the orchestrator binary");
        Spawned { child, log, _logs: logs }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL by its pid, and reaps it.
    pub fn kill_9(&mut self) {
        self.signal(libc::SIGKILL);
        self.child.wait().unwrap();
    }

    /// SIGTERM (a graceful shutdown) and its exit, within `within`.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        self.exit_within(within).await
    }

    /// Waits for it to exit by itself, failing after `within` with its log.
    pub async fn exit_within(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still running after {within:?}; it logged:\n{}",
                self.log()
            );
        }
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal the orchestrator");
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
