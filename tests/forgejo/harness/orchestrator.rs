//! The `orchestrator` binary with the qemu executor, inside a network namespace of the test
//! that holds proxies to the broker and the database: the discipline of the orchestrator's own
//! VM tests, so whatever the guest does, no packet leaves the machine.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use testkit::netns::TestNetns;
use testkit::postgres::TestDatabase;
use testkit::proxy::Proxy;
use testkit::rabbitmq::TestVhost;
use testkit::vm::AgentDir;

use super::child::{Child, clean};
use super::{BUS_KEY, LABEL};

/// Little, as the image needs little; the orchestrator's VM tests found 128 MB enough.
const GUEST_MEMORY_MB: i64 = 128;

pub struct Orchestrator {
    pub child: Child,
    state: tempfile::TempDir,
    _files: tempfile::TempDir,
    _agent_dir: AgentDir,
    _amqp: Proxy,
    _database: Proxy,
    // Last: the namespace goes once the processes in it are gone.
    _netns: TestNetns,
}

impl Orchestrator {
    /// One VM at a time.
    pub fn start(vhost: &TestVhost, db: &TestDatabase) -> Orchestrator {
        Orchestrator::start_with_capacity(vhost, db, 1)
    }

    /// Up to `capacity` VMs at once.
    #[allow(dead_code)] // the GitHub suite's; this file is shared with it
    pub fn start_with_capacity(vhost: &TestVhost, db: &TestDatabase, capacity: u32) -> Orchestrator {
        let netns = TestNetns::create("");
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let amqp = Proxy::serve(netns.bind(loopback), testkit::rabbitmq::BROKER);
        let database = Proxy::serve(netns.bind(loopback), TestDatabase::server_addr());

        let state = testkit::vm::state_dir();
        let images = state.path().join("images");
        std::fs::create_dir(&images).expect("make the images dir");
        std::os::unix::fs::symlink(testkit::vm::image(), images.join(LABEL)).expect("link the test image");
        let files = tempfile::tempdir().expect("make a config dir");
        let catalog = files.path().join("catalog.toml");
        std::fs::write(&catalog, catalog_text()).expect("write the catalog");
        let config = files.path().join("orchestrator.toml");
        std::fs::write(&config, "").expect("write the config");
        let agent_dir = AgentDir::locate(orchestrator::HOST_TARGET);

        let mut command = clean(netns.command(testkit::vm::built_binary("orchestrator")));
        command
            .arg("--config")
            .arg(&config)
            .env("SOLSTICE_AMQP_URL", format!("amqp://guest:guest@{}/{}", amqp.addr, vhost.name))
            .env("SOLSTICE_DATABASE_URL", db.url_via(database.addr))
            .env("SOLSTICE_STATE_DIR", state.path())
            .env("SOLSTICE_AGENT_DIR", &agent_dir.path)
            .env("SOLSTICE_IMAGES", &catalog)
            .env("SOLSTICE_BUS_KEY", BUS_KEY)
            .env("SOLSTICE_LABELS", LABEL)
            .env("SOLSTICE_EXECUTOR", "qemu")
            .env("SOLSTICE_ACCEL", "tcg")
            .env("SOLSTICE_CAPACITY", capacity.to_string());
        let child = Child::start(command, "orchestrator");
        Orchestrator {
            child,
            state,
            _files: files,
            _agent_dir: agent_dir,
            _amqp: amqp,
            _database: database,
            _netns: netns,
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }
}

impl Drop for Orchestrator {
    /// Kills the daemon, then by pid whatever of its VMs outlived it (QEMU and passt name their
    /// files under its state dir), so a failed or stopped test leaves nothing running.
    fn drop(&mut self) {
        self.child.kill();
        for process in testkit::leftovers::processes_naming(self.state.path()) {
            let Some(pid) = process.split_once(':').and_then(|(pid, _)| pid.parse::<i32>().ok()) else { continue };
            // SAFETY: kill(2) on a process whose command line names this test's state dir.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The built-in catalog with less memory for the guest.
fn catalog_text() -> String {
    let mut catalog: toml::Table = vm::BUILTIN_CATALOG.parse().expect("the built-in catalog parses");
    let qemu = catalog
        .get_mut("images")
        .and_then(|images| images.get_mut(LABEL))
        .and_then(|image| image.get_mut("qemu"))
        .and_then(toml::Value::as_table_mut)
        .expect("the built-in catalog has a qemu profile for the test image");
    qemu.insert("memory_mb".into(), toml::Value::Integer(GUEST_MEMORY_MB));
    catalog.to_string()
}
