//! One test's whole system: the fake Forgejo, a registered `forgejo-runner daemon`, and an
//! `orchestrator` with the qemu executor in a network namespace, with a RabbitMQ vhost and a
//! PostgreSQL database of their own. Dropping it kills both processes by pid.

mod child;
mod orchestrator;
mod runner;

use std::time::Duration;

use fake_forgejo::{FakeForgejo, JobHandle, JobSpec, JobView};
use testkit::postgres::TestDatabase;
use testkit::rabbitmq::TestVhost;

pub use orchestrator::Orchestrator;
pub use runner::Runner;

/// The label the runner declares and the jobs run on: the orchestrator's test image.
pub const LABEL: &str = testkit::vm::LABEL;
/// How long anything a test waits for may take, boots under TCG on a loaded host included.
pub const DEADLINE: Duration = Duration::from_secs(240);
/// How long a VM's processes may outlive the job's end on the page.
pub const TEARDOWN: Duration = Duration::from_secs(30);
/// Shared by the runner and the orchestrator: it seals the secrets on the bus.
pub const BUS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub struct System {
    pub fake: FakeForgejo,
    pub runner: Runner,
    pub orchestrator: Orchestrator,
    // Dropped last, after both processes are gone.
    _db: TestDatabase,
    _vhost: TestVhost,
}

impl System {
    /// Starts everything, or `None` (after a SKIPPED line) when VMs cannot run here.
    pub async fn start() -> Option<System> {
        if testkit::vm::unavailable().is_some() {
            return None;
        }
        let fake = FakeForgejo::start().await.expect("the fake Forgejo starts");
        let vhost = TestVhost::create();
        let db = TestDatabase::create("forgejo_e2e").await;
        let orchestrator = Orchestrator::start(&vhost, &db);
        let runner = Runner::register(&fake, &vhost).await;
        Some(System { fake, runner, orchestrator, _db: db, _vhost: vhost })
    }

    /// Adds `spec`, waits for its end and returns its page; fails with both logs if it does
    /// not end within [`DEADLINE`].
    pub async fn run(&self, spec: JobSpec) -> (JobHandle, JobView) {
        let job = self.fake.add_job(spec);
        let view = self.finished(job).await;
        (job, view)
    }

    pub async fn finished(&self, job: JobHandle) -> JobView {
        match self.fake.wait_until_finished(job, DEADLINE).await {
            Ok(view) => view,
            Err(error) => panic!("{error}: the job shows {:#?}\n{}", self.fake.view(job), self.logs()),
        }
    }

    /// Both processes' logs, for a failure message.
    pub fn logs(&self) -> String {
        format!(
            "--- forgejo-runner log ---\n{}\n--- orchestrator log ---\n{}",
            self.runner.log(),
            self.orchestrator.child.log()
        )
    }

    /// Fails if a QEMU, passt or ssh process of the orchestrator still runs [`TEARDOWN`] after
    /// the call: the forge learns the result before the VM is torn down, so its processes are
    /// given that long to go. Nothing announces their end, hence the bounded re-checks of `/proc`.
    pub async fn assert_no_vm_left(&self) {
        let state = self.orchestrator.state_dir();
        if let Err(left) = testkit::leftovers::wait_until_no_process_names(state, TEARDOWN).await {
            panic!("left running after {TEARDOWN:?}: {left:?}\n{}", self.logs());
        }
    }
}

/// A job on [`LABEL`] of `payload` (one job `build`), whose steps the page names `steps`.
pub fn job(payload: &str, steps: &[&str]) -> JobSpec {
    JobSpec::new("build", payload, &[LABEL], steps)
}
