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
        bus_key: key(),
        agent_dir: Some(agent_dir.to_owned()),
        lease_ttl: Duration::from_secs(3),
        shutdown_grace: Duration::from_secs(10),
        database_budget: Duration::from_secs(5),
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
