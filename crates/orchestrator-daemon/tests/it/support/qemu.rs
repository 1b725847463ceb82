//! The daemon with the qemu executor, as the `orchestrator` binary inside a network namespace of
//! the test ([`TestNetns`]), booting the real `linux-test` image under TCG.
//!
//! **Skips.** Without the image (`images/build-test-image.sh`) or without root, a test prints a
//! loud SKIPPED line and passes, unless `SOLSTICE_REQUIRE_VM` is set (CI sets it), when it fails
//! instead: the vm crate's rule.
//!
//! **Agent.** `workflow-runner` must be built first (`cargo build -p workflow-runner`): it is
//! taken from `$SOLSTICE_AGENT_DIR/<target>/` when that is set, else from the target directory
//! above this test binary.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use contract::{ForgeKind, JobRequest, Origin, StepCommand, Template};
use testkit::vm::AgentDir;
use ulid::Ulid;

use super::daemon::{Spawned, binary, key};
use super::runner::RUNNER;
use testkit::netns::TestNetns;
use testkit::postgres::TestDatabase;
use testkit::proxy::Proxy;
use testkit::rabbitmq::TestVhost;

pub use testkit::vm::LABEL;
/// `linux-test`'s kernel with an initramfs that is not one: it panics at once, every boot.
pub const PANIC_LABEL: &str = "linux-panic";
/// Little, as the image needs little: measured here, 64 MB never reached SSH and 96 MB ran a
/// job; 128 MB leaves room for the kernel, the unpacked initramfs and the agent in `/tmp`.
const GUEST_MEMORY_MB: i64 = 128;
/// How long anything a VM test waits for may take, boots under TCG on a loaded host included.
pub const VM_DEADLINE: Duration = Duration::from_secs(240);

/// One test's host for the daemon: its namespace, the proxies to the broker and the database
/// inside it, a state dir holding the images, an agent dir and a catalog.
pub struct VmHost {
    pub netns: TestNetns,
    pub state: tempfile::TempDir,
    amqp_url: String,
    database_url: String,
    agent_dir: AgentDir,
    catalog: PathBuf,
    files: tempfile::TempDir,
    _amqp: Proxy,
    database: Proxy,
}

impl VmHost {
    /// `extra_ip` is more `ip -batch` commands for the namespace (addresses for probes).
    pub fn new(vhost: &TestVhost, db: &TestDatabase, extra_ip: &str) -> VmHost {
        let netns = TestNetns::create(extra_ip);
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let amqp = Proxy::serve(netns.bind(loopback), testkit::rabbitmq::BROKER);
        let pg = Proxy::serve(netns.bind(loopback), TestDatabase::server_addr());
        let amqp_url = format!("amqp://guest:guest@{}/{}", amqp.addr, vhost.name);
        let database_url = db.url_via(pg.addr);

        let state = testkit::vm::state_dir();
        let images = state.path().join("images");
        std::fs::create_dir(&images).unwrap();
        std::os::unix::fs::symlink(testkit::vm::image(), images.join(LABEL)).unwrap();
        testkit::vm::add_panicking_image(&images.join(PANIC_LABEL));

        let files = tempfile::tempdir().unwrap();
        let catalog = files.path().join("catalog.toml");
        std::fs::write(&catalog, catalog_text()).unwrap();
        let agent_dir = AgentDir::locate(orchestrator::HOST_TARGET);
        VmHost { netns, state, amqp_url, database_url, agent_dir, catalog, files, _amqp: amqp, database: pg }
    }

    /// Starts the daemon inside the namespace: one job at a time, TCG, both test labels.
    pub fn spawn(&self) -> Spawned {
        self.spawn_with("")
    }

    /// [`spawn`](Self::spawn) with `config` as its config file.
    pub fn spawn_with(&self, config: &str) -> Spawned {
        let file = self.files.path().join("orchestrator.toml");
        std::fs::write(&file, config).unwrap();
        let mut command = binary(self.netns.command(env!("CARGO_BIN_EXE_orchestrator")));
        command
            .arg("--config")
            .arg(&file)
            .env("SOLSTICE_AMQP_URL", &self.amqp_url)
            .env("SOLSTICE_DATABASE_URL", &self.database_url)
            .env("SOLSTICE_STATE_DIR", self.state.path())
            .env("SOLSTICE_AGENT_DIR", &self.agent_dir.path)
            .env("SOLSTICE_IMAGES", &self.catalog)
            .env("SOLSTICE_BUS_KEY", key().to_base64().expose())
            .env("SOLSTICE_LABELS", format!("{LABEL},{PANIC_LABEL}"))
            .env("SOLSTICE_EXECUTOR", "qemu")
            .env("SOLSTICE_ACCEL", "tcg")
            .env("SOLSTICE_CAPACITY", "1");
        Spawned::start(command)
    }
}

impl VmHost {
    /// Takes the database away from the daemon: its connections close, new ones are refused.
    pub fn cut_database(&self) {
        self.database.cut();
    }

    /// Gives the database back, through a new proxy, to daemons started from now on.
    pub fn restore_database(&mut self, db: &TestDatabase) {
        let listener = self.netns.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        self.database = Proxy::serve(listener, TestDatabase::server_addr());
        self.database_url = db.url_via(self.database.addr);
    }
}

/// A job on `label` whose steps run `scripts`.
pub fn request(label: &str, scripts: &[&str]) -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: RUNNER.into(), forge_ref: serde_json::Value::Null };
    let mut request = JobRequest::new(Ulid::new(), origin, label, "build");
    request.timeout_minutes = Some(Template::literal(5));
    request.steps = scripts
        .iter()
        .enumerate()
        .map(|(index, script)| StepCommand::run(index as u32, format!("step{index}"), Template::literal(*script)))
        .collect();
    request
}

/// The built-in catalog with less memory for the guest and the panicking image added.
fn catalog_text() -> String {
    let mut catalog: toml::Table = vm::BUILTIN_CATALOG.parse().unwrap();
    let images = catalog["images"].as_table_mut().unwrap();
    let test = images[LABEL].as_table_mut().unwrap();
    test["qemu"].as_table_mut().unwrap().insert("memory_mb".into(), toml::Value::Integer(GUEST_MEMORY_MB));
    let panicking = test.clone();
    images.insert(PANIC_LABEL.into(), toml::Value::Table(panicking));
    catalog.to_string()
}
