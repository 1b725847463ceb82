//! `forgejo-runner`, registered with the fake by its `register` command, then run as
//! `forgejo-runner daemon` in the host's namespace (it talks to the fake and the broker on
//! 127.0.0.1), its state (the `.runner` file, its SQLite store) in a dir that outlives restarts.

use std::process::Command;

use fake_forgejo::{FakeForgejo, Scope};
use testkit::rabbitmq::TestVhost;

use super::child::{Child, clean};
use super::{BUS_KEY, LABEL};

/// Fetches often, so a test does not wait on the fetch interval.
const CONFIG: &str = "fetch_interval_secs = 0.5\nshutdown_timeout_secs = 5\n";

pub struct Runner {
    pub child: Child,
    /// Logs of the processes killed earlier, for failure messages.
    earlier_logs: String,
    amqp_url: String,
    state: tempfile::TempDir,
}

impl Runner {
    /// Registers a runner for [`LABEL`] and starts its daemon.
    pub async fn register(fake: &FakeForgejo, vhost: &TestVhost) -> Runner {
        let state = tempfile::tempdir().expect("make the runner's state dir");
        std::fs::write(state.path().join("config.toml"), CONFIG).expect("write the runner's config");
        let token = fake.registration_token(Scope::Global);
        let mut register = command(&state);
        register.args(["register", "--no-interactive", "--instance", fake.url(), "--token", &token]);
        register.args(["--name", "e2e", "--labels", LABEL]);
        // The fake answers from this runtime, so the blocking wait runs on another thread.
        let output = tokio::task::spawn_blocking(move || register.output())
            .await
            .expect("the register thread ends")
            .expect("run forgejo-runner register");
        assert!(
            output.status.success(),
            "forgejo-runner register: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let amqp_url = vhost.url();
        let child = daemon(&state, &amqp_url);
        Runner { child, earlier_logs: String::new(), amqp_url, state }
    }

    /// Starts the daemon again (after a kill), on the same state.
    pub fn restart(&mut self) {
        let earlier = self.child.log();
        self.earlier_logs.push_str(&earlier);
        self.earlier_logs.push_str("--- restarted ---\n");
        self.child = daemon(&self.state, &self.amqp_url);
    }

    pub fn log(&self) -> String {
        format!("{}{}", self.earlier_logs, self.child.log())
    }
}

fn command(state: &tempfile::TempDir) -> Command {
    let mut command = clean(Command::new(testkit::vm::built_binary("forgejo-runner")));
    command.env("SOLSTICE_STATE_DIR", state.path()).env("RUST_LOG", "info,forgejo=debug");
    command
}

fn daemon(state: &tempfile::TempDir, amqp_url: &str) -> Child {
    let mut command = command(state);
    command
        .arg("daemon")
        .arg("--config")
        .arg(state.path().join("config.toml"))
        .env("SOLSTICE_AMQP_URL", amqp_url)
        .env("SOLSTICE_BUS_KEY", BUS_KEY);
    Child::start(command, "forgejo-runner")
}
