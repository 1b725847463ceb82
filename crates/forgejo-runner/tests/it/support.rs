//! A runner and an orchestrator (local executor) on a vhost of their own, around the fake
//! Forgejo.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fake_forgejo::{FakeForgejo, Scope};
use testkit::rabbitmq::TestVhost;
use testkit::vm::{AgentDir, built_binary};
use tokio::process::{Child, Command};

/// The key the runner and the orchestrator share.
pub const BUS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub const LABEL: &str = "linux-test";

/// A registered runner's directory (the `.runner` file, the SQLite state) and its broker.
pub struct Site {
    pub fake: FakeForgejo,
    pub vhost: TestVhost,
    pub dir: tempfile::TempDir,
    orchestrator: Option<(Child, tempfile::TempDir, AgentDir)>,
}

impl Site {
    /// The fake, a vhost, and a runner registered for [`LABEL`] that fetches every 50 ms.
    pub async fn new() -> Site {
        let fake = FakeForgejo::start().await.expect("the fake starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let token = fake.registration_token(Scope::Global);
        let args = [
            "register",
            "--no-interactive",
            "--instance",
            fake.url(),
            "--token",
            &token,
            "--name",
            "e2e",
            "--labels",
            LABEL,
        ];
        let registered = crate::run(dir.path(), &args, &[("SOLSTICE_STATE_DIR", path(dir.path()))]).await;
        assert_eq!(crate::code(&registered), 0, "{}", crate::stderr(&registered));
        std::fs::write(dir.path().join("runner.toml"), "fetch_interval_secs = 0.05\nshutdown_timeout_secs = 60\n")
            .expect("writes");
        Site { fake, vhost: TestVhost::create(), dir, orchestrator: None }
    }

    /// The environment the runner runs with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SOLSTICE_STATE_DIR", path(self.dir.path()).to_owned()),
            ("SOLSTICE_AMQP_URL", self.vhost.url()),
            ("SOLSTICE_BUS_KEY", BUS_KEY.to_owned()),
        ]
    }

    /// Starts the `orchestrator` binary serving [`LABEL`] with the local executor.
    pub fn start_orchestrator(&mut self) {
        let state = tempfile::tempdir().expect("a state dir");
        let agents = AgentDir::locate(orchestrator::HOST_TARGET);
        let child = Command::new(built_binary("orchestrator"))
            .env("SOLSTICE_AMQP_URL", self.vhost.url())
            .env("SOLSTICE_STATE_DIR", state.path())
            .env("SOLSTICE_AGENT_DIR", &agents.path)
            .env("SOLSTICE_BUS_KEY", BUS_KEY)
            .env("SOLSTICE_LABELS", LABEL)
            .env("SOLSTICE_EXECUTOR", "local")
            .env_remove("SOLSTICE_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the orchestrator starts");
        self.orchestrator = Some((child, state, agents));
    }

    /// SIGKILLs the orchestrator: its heartbeats stop with it.
    pub async fn kill_orchestrator(&mut self) {
        if let Some((child, _, _)) = self.orchestrator.as_mut() {
            signal(child, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }

    /// Starts `forgejo-runner daemon` in the runner's directory.
    pub fn start_daemon(&self) -> Child {
        self.start_daemon_with(&[])
    }

    /// [`Site::start_daemon`] with more variables.
    pub fn start_daemon_with(&self, extra: &[(&str, &str)]) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_forgejo-runner"));
        command.args(["daemon", "--config", "runner.toml"]).current_dir(self.dir.path()).kill_on_drop(true);
        for (name, _) in std::env::vars() {
            if name.starts_with("SOLSTICE_") {
                command.env_remove(name);
            }
        }
        for (name, value) in self.env() {
            command.env(name, value);
        }
        command.envs(extra.iter().copied());
        command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the daemon starts")
    }

    /// The content of every row of `job`'s log, in order.
    pub fn rows(&self, job: fake_forgejo::JobHandle) -> Vec<String> {
        self.fake.rows(job).into_iter().map(|row| row.content).collect()
    }

    /// Waits until some row of `job` contains `text`.
    pub async fn wait_for_row(&self, job: fake_forgejo::JobHandle, text: &str, timeout: Duration) {
        let found = self
            .fake
            .wait_for(timeout, |snapshot| snapshot.rows(job).iter().any(|row| row.content.contains(text)).then_some(()))
            .await;
        assert!(found.is_ok(), "no row with {text:?} within {timeout:?}: {:#?}", self.rows(job));
    }
}

fn path(dir: &Path) -> &str {
    dir.to_str().expect("a UTF-8 path")
}

/// Sends `signal` to the child by its own pid.
pub fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id().expect("the child runs")).expect("a pid");
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}
