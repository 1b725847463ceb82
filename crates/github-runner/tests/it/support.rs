//! A configured runner, a RabbitMQ vhost of its own and an orchestrator (local executor) around
//! the fake GitHub.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use fake_github::{Config, FakeGithub};
use testkit::rabbitmq::TestVhost;
use testkit::vm::{AgentDir, built_binary};
use tokio::process::{Child, Command};

/// The key the runner and the orchestrator share.
pub const BUS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The catalog label the runners serve.
pub const LABEL: &str = "linux-test";

/// How long a test waits for something a job does.
pub const WAIT: Duration = Duration::from_secs(90);

/// Runs the binary in `dir` with only the given SOLSTICE_* variables.
pub async fn run(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = command(dir, env);
    command.args(args);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the runner exits within two minutes")
        .expect("the runner starts")
}

fn command(dir: &Path, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_github-runner"));
    command.current_dir(dir).kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("SOLSTICE_") {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The fake, a vhost, a state dir; runners are configured by [`Site::configure`].
pub struct Site {
    pub fake: FakeGithub,
    pub vhost: TestVhost,
    pub dir: tempfile::TempDir,
    /// Extra SOLSTICE_* settings for `run`.
    pub extra: Vec<(&'static str, String)>,
    orchestrator: Option<(Child, tempfile::TempDir, AgentDir)>,
}

impl Site {
    pub async fn new() -> Site {
        let config = Config { long_poll: Duration::from_secs(5), ..Config::default() };
        let fake = FakeGithub::start(config).await.expect("the fake starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        Site { fake, vhost: TestVhost::create(), dir, extra: Vec::new(), orchestrator: None }
    }

    /// The environment `run` gets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("SOLSTICE_STATE_DIR", path(self.dir.path()).to_owned()),
            ("SOLSTICE_AMQP_URL", self.vhost.url()),
            ("SOLSTICE_BUS_KEY", BUS_KEY.to_owned()),
        ];
        env.extend(self.extra.iter().cloned());
        env
    }

    /// `configure` with `extra` flags after the usual ones; asserts it succeeded.
    pub async fn configure(&self, extra: &[&str]) {
        let output = self.try_configure(&["--labels", LABEL], extra).await;
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }

    pub async fn try_configure(&self, labels: &[&str], extra: &[&str]) -> Output {
        let url = self.fake.repo_url("octo", "hello");
        let token = self.fake.registration_token();
        let mut args = vec!["configure", "--unattended", "--url", &url, "--token", &token, "--name", "solstice"];
        args.extend(labels);
        args.extend(extra);
        run(self.dir.path(), &args, &[("SOLSTICE_STATE_DIR", path(self.dir.path()).to_owned())]).await
    }

    /// Starts the `orchestrator` binary serving [`LABEL`] with the local executor.
    pub fn start_orchestrator(&mut self, capacity: u32) {
        let state = tempfile::tempdir().expect("a state dir");
        let agents = AgentDir::locate(orchestrator::HOST_TARGET);
        let child = Command::new(built_binary("orchestrator"))
            .env("SOLSTICE_AMQP_URL", self.vhost.url())
            .env("SOLSTICE_STATE_DIR", state.path())
            .env("SOLSTICE_AGENT_DIR", &agents.path)
            .env("SOLSTICE_BUS_KEY", BUS_KEY)
            .env("SOLSTICE_LABELS", LABEL)
            .env("SOLSTICE_EXECUTOR", "local")
            .env("SOLSTICE_CAPACITY", capacity.to_string())
            .env_remove("SOLSTICE_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the orchestrator starts");
        self.orchestrator = Some((child, state, agents));
    }

    /// SIGKILLs the orchestrator: its events and heartbeats stop with it.
    pub async fn kill_orchestrator(&mut self) {
        if let Some((child, _, _)) = self.orchestrator.as_mut() {
            signal(child, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }

    /// Starts `github-runner run` in the state dir.
    pub fn start_runner(&self) -> Child {
        let mut command = command(self.dir.path(), &self.env());
        command.arg("run").stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the runner starts")
    }

    /// Waits for the job's completejob body.
    pub async fn completion(&self, job: &str) -> serde_json::Value {
        let found = self.fake.wait_for(WAIT, |fake| fake.completion(job)).await;
        found.unwrap_or_else(|| panic!("job {job} not completed within {WAIT:?}: {:#?}", self.fake.view(job)))
    }

    /// Waits until the job is acquired by a runner.
    pub async fn acquired(&self, job: &str) {
        let found = self
            .fake
            .wait_for(WAIT, |fake| {
                matches!(fake.job_phase(job), Some(fake_github::JobPhase::Acquired { .. })).then_some(())
            })
            .await;
        assert!(found.is_some(), "job {job} not acquired: {:?}", self.fake.job_phase(job));
    }

    /// SIGTERMs the runner and returns its exit code.
    pub async fn stop(&self, mut runner: Child) -> Option<i32> {
        signal(&runner, libc::SIGTERM);
        tokio::time::timeout(WAIT, runner.wait()).await.expect("the runner stops").expect("waits").code()
    }
}

pub fn path(dir: &Path) -> &str {
    dir.to_str().expect("a UTF-8 path")
}

/// Sends `signal` to the child by its own pid.
pub fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id().expect("the child runs")).expect("a pid");
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}
