//! `github-runner`, configured against the fake by its `configure` command, then run as
//! `github-runner run` in the host's namespace (it talks to the fake and the broker on
//! 127.0.0.1), its state (the registration, its SQLite store) in a dir that outlives restarts.

use std::process::Command;

use fake_github::FakeGithub;
use testkit::rabbitmq::TestVhost;

use super::child::{Child, clean};
use super::{BUS_KEY, LABEL, Setup};

pub struct Runner {
    pub child: Child,
    state: tempfile::TempDir,
}

impl Runner {
    /// Configures a runner for [`LABEL`] and starts it, as `setup` says.
    pub async fn configure(fake: &FakeGithub, vhost: &TestVhost, setup: &Setup<'_>) -> Runner {
        let state = tempfile::tempdir().expect("make the runner's state dir");
        let mut configure = command(&state);
        let url = fake.repo_url("octo", "hello");
        configure.args(["configure", "--unattended", "--url", &url, "--token", &fake.registration_token()]);
        configure.args(["--name", "e2e", "--labels", LABEL]).args(setup.configure);
        // The fake answers from this runtime, so the blocking wait runs on another thread.
        let output = tokio::task::spawn_blocking(move || configure.output())
            .await
            .expect("the configure thread ends")
            .expect("run github-runner configure");
        assert!(
            output.status.success(),
            "github-runner configure: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let mut run = command(&state);
        run.arg("run")
            .env("SOLSTICE_AMQP_URL", vhost.url())
            .env("SOLSTICE_BUS_KEY", BUS_KEY)
            .env("SOLSTICE_GITHUB_SHUTDOWN_TIMEOUT", "5")
            .envs(setup.env.iter().copied());
        let child = Child::start(run, "github-runner");
        Runner { child, state }
    }

    /// The registrations' dir: one `<name>/` with GitHub's runner files per registration.
    pub fn registrations(&self) -> std::path::PathBuf {
        self.state.path().join("github")
    }

    pub fn log(&self) -> String {
        self.child.log()
    }
}

fn command(state: &tempfile::TempDir) -> Command {
    let mut command = clean(Command::new(testkit::vm::built_binary("github-runner")));
    command.env("SOLSTICE_STATE_DIR", state.path()).env("RUST_LOG", "info,github=debug");
    command
}
