//! One test's whole system: the fake GitHub, a configured `github-runner run`, and an
//! `orchestrator` with the qemu executor in a network namespace, with a RabbitMQ vhost and a
//! PostgreSQL database of their own. The orchestrator and the child-process handling are the
//! Forgejo suite's own files, shared rather than copied.

// Shared with the Forgejo suite, which uses parts this one does not.
#[allow(dead_code)]
#[path = "../forgejo/harness/child.rs"]
mod child;
#[allow(dead_code)]
#[path = "../forgejo/harness/orchestrator.rs"]
mod orchestrator;
mod runner;

use std::time::Duration;

use fake_github::{FakeGithub, JobSpec, JobView};
use testkit::postgres::TestDatabase;
use testkit::rabbitmq::TestVhost;

pub use orchestrator::Orchestrator;
pub use runner::Runner;

/// The label the runner serves and the jobs run on: the orchestrator's test image.
pub const LABEL: &str = testkit::vm::LABEL;
/// How long anything a test waits for may take, boots under TCG on a loaded host included.
pub const DEADLINE: Duration = Duration::from_secs(240);
/// Shared by the runner and the orchestrator: it seals the secrets on the bus.
pub const BUS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub struct System {
    pub fake: FakeGithub,
    pub runner: Runner,
    pub orchestrator: Orchestrator,
    // Dropped last, after both processes are gone.
    _db: TestDatabase,
    _vhost: TestVhost,
}

impl System {
    /// Starts everything, or `None` (after a SKIPPED line) when VMs cannot run here.
    pub async fn start() -> Option<System> {
        System::start_with(Setup::default()).await
    }

    /// [`System::start`] with a runner configured and run as `setup` says.
    pub async fn start_with(setup: Setup<'_>) -> Option<System> {
        if testkit::vm::unavailable().is_some() {
            return None;
        }
        let config = fake_github::Config { long_poll: Duration::from_secs(5), ..fake_github::Config::default() };
        let fake = FakeGithub::start(config).await.expect("the fake GitHub starts");
        let vhost = TestVhost::create();
        let db = TestDatabase::create("github_e2e").await;
        let orchestrator = Orchestrator::start_with_capacity(&vhost, &db, setup.vms);
        let runner = Runner::configure(&fake, &vhost, &setup).await;
        Some(System { fake, runner, orchestrator, _db: db, _vhost: vhost })
    }

    /// Queues `spec`, waits for its completion and returns its page and completejob body.
    pub async fn run(&self, spec: JobSpec) -> (String, JobView, serde_json::Value) {
        let id = self.fake.queue(spec);
        let (view, completion) = self.finished(&id).await;
        (id, view, completion)
    }

    pub async fn finished(&self, id: &str) -> (JobView, serde_json::Value) {
        let found = self.fake.wait_for(DEADLINE, |fake| fake.completion(id)).await;
        let completion =
            found.unwrap_or_else(|| panic!("job {id} not completed: {:#?}\n{}", self.fake.view(id), self.logs()));
        let view = self.fake.view(id).expect("the job is known");
        (view, completion)
    }

    /// Both processes' logs, for a failure message.
    pub fn logs(&self) -> String {
        format!(
            "--- github-runner log ---\n{}\n--- orchestrator log ---\n{}",
            self.runner.log(),
            self.orchestrator.child.log()
        )
    }
}

/// How a test's runner is configured and run, and how many VMs its orchestrator may run at once.
pub struct Setup<'a> {
    /// Added to `github-runner configure` (`--count 2`, `--ephemeral`).
    pub configure: &'a [&'a str],
    /// Added to the environment of `github-runner run`.
    pub env: &'a [(&'a str, &'a str)],
    pub vms: u32,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup { configure: &[], env: &[], vms: 1 }
    }
}

/// A job on [`LABEL`] with one `run:` step per `(name, script)`.
pub fn job(steps: &[(&str, &str)]) -> JobSpec {
    JobSpec::new("build", &[LABEL], steps)
}
