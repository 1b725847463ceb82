//! The standalone orchestrator (brief §3.5): consumes the JobRequests of its labels from
//! RabbitMQ, records each job and attempt in the store before anything runs, runs them on the
//! `qemu` executor (or `local`, when named), and relays the agent's events sequenced by the
//! store's persisted high-water mark. Its id is stable across restarts (kept under the state
//! dir); it holds a lease in the store, fails on start the attempts its previous incarnation
//! started, and takes over the started attempts of peers whose lease expired. When the lease
//! cannot be renewed for half its ttl (the database is gone), it kills every job and exits 3
//! before the lease runs out, so no peer ever fails a job that still runs here (`lease.rs`).
//!
//! `main.rs` only parses flags; [`run`] is the daemon, given its [`Settings`] and a shutdown
//! future, so tests drive it in-process.

mod identity;
mod lease;
mod settings;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bus::{AmqpBus, BusError};
use orchestrator::{
    Durability, Executor, LocalExecutor, LocalExecutorConfig, Orchestrator, OrchestratorConfig, StartError,
};
use store::{Store, StoreError};

pub use identity::orchestrator_id;
pub use settings::{Cli, ExecutorKind, GuestNetwork, Settings};

/// Every way the daemon fails; [`DaemonError::exit_code`] maps them to brief §3.7.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("configure the orchestrator: {0}")]
    Config(String),
    #[error("keep the orchestrator's id under {dir}")]
    Identity {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("connect to the broker")]
    Bus(#[source] BusError),
    #[error("open the store")]
    Store(#[source] StoreError),
    #[error(transparent)]
    Start(StartError),
    #[error("set up the {0} executor")]
    Executor(&'static str, #[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("serve jobs: the broker went away for good")]
    BusLost,
    /// The lease could not be renewed for half its ttl: every job was stopped before it could
    /// expire, so a peer may take them over (see `lease.rs` for the timing).
    #[error(
        "keep the orchestrator's lease: not renewed for {:.1} s, half its {} s ttl; every job was stopped \
         before it expires so that a peer or a restart can fail them",
        unrenewed_for.as_secs_f64(),
        ttl.as_secs()
    )]
    LeaseLost {
        unrenewed_for: Duration,
        ttl: Duration,
        #[source]
        last_error: Option<StoreError>,
    },
}

impl DaemonError {
    /// 2: configuration; 3: a dependency (broker, database, agent, QEMU) unreachable, the lease
    /// included.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Config(_) | DaemonError::Identity { .. } => 2,
            DaemonError::Bus(error) if !error.is_unavailable() => 2,
            DaemonError::Store(error) if !error.is_unavailable() => 2,
            DaemonError::Start(error) if !error.is_unavailable() => 2,
            DaemonError::Bus(_)
            | DaemonError::Store(_)
            | DaemonError::Start(_)
            | DaemonError::Executor(..)
            | DaemonError::BusLost
            | DaemonError::LeaseLost { .. } => 3,
        }
    }
}

/// Prints the error with its causes on stderr and returns its exit code.
pub fn report(error: &DaemonError) -> ExitCode {
    let mut text = format!("orchestrator: failed to {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    eprintln!("{text}");
    tracing::error!(exit = error.exit_code(), "{text}");
    ExitCode::from(error.exit_code())
}

/// Logs to stderr: text on a terminal, JSON lines otherwise; `RUST_LOG` (default `info`).
pub fn init_tracing() {
    telemetry::init_logs("info");
}

/// Resolves on SIGTERM or SIGINT; call it inside the runtime (see [`telemetry::shutdown_signal`]).
pub fn shutdown_signal() -> impl Future<Output = ()> {
    telemetry::shutdown_signal("no new jobs; running ones may finish")
}

/// The daemon: runs until `shutdown` resolves, then stops taking jobs, lets the running ones
/// finish (within `shutdown_grace`) and releases its lease.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let id = orchestrator_id(&settings.state_dir)?;
    tracing::info!(%id, labels = %settings.labels.join(","), capacity = settings.capacity, "orchestrator starting");
    let amqp = bus::AmqpSettings { connection_name: format!("orchestrator {id}"), ..settings.amqp.clone() };
    let bus = AmqpBus::connect(amqp).await.map_err(DaemonError::Bus)?;
    let store = connect_store(&settings).await?;
    let result = match settings.executor {
        ExecutorKind::Local => {
            let agent = orchestrator::locate_agent(settings.agent_dir.as_deref())
                .map_err(|error| DaemonError::Executor("local", Box::new(error)))?;
            tracing::warn!(
                "the local executor runs every job as a child process of this orchestrator, with no isolation \
                 at all: use it only for tests and trusted single-user hosts"
            );
            let mut config = LocalExecutorConfig::new(agent);
            config.work_root = Some(settings.state_dir.join("work"));
            serve(&settings, id, bus, store.clone(), LocalExecutor::new(config), shutdown).await
        }
        ExecutorKind::Qemu => {
            let executor = qemu_executor(&settings)?;
            serve(&settings, id, bus, store.clone(), executor, shutdown).await
        }
    };
    store.close().await;
    result
}

fn qemu_executor(settings: &Settings) -> Result<vm::QemuExecutor, DaemonError> {
    let catalog = match std::env::var_os("SOLSTICE_IMAGES") {
        Some(path) => vm::Catalog::load(std::path::Path::new(&path)),
        None => vm::Catalog::builtin(),
    }
    .map_err(|error| DaemonError::Config(format!("the image catalog: {error}")))?;
    let mut config = vm::QemuExecutorConfig::new(settings.state_dir.clone(), catalog);
    config.agent_dir = settings.agent_dir.clone();
    config.accel = vm::AccelChoice::from_env().map_err(|error| DaemonError::Config(error.to_string()))?;
    config.network = settings.guest_network.mode();
    if settings.guest_network == GuestNetwork::Routed && !config.tools.nft.is_file() {
        let reason = format!(
            "routed guests need {}, which is not installed (Debian: apt-get install nftables), or set guest_network = \"none\"",
            config.tools.nft.display()
        );
        return Err(DaemonError::Executor("qemu", reason.into()));
    }
    vm::QemuExecutor::new(config).map_err(|error| DaemonError::Executor("qemu", Box::new(error)))
}

/// Connects to the database, retrying while it is unreachable for up to the budget.
async fn connect_store(settings: &Settings) -> Result<Arc<dyn Store>, DaemonError> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match store::connect(&settings.database_url).await {
            Ok(store) => return Ok(store),
            Err(error) if error.is_unavailable() && started.elapsed() < settings.database_budget => {
                tracing::warn!(%error, "the database is unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(DaemonError::Store(error)),
        }
    }
}

async fn serve<E: Executor>(
    settings: &Settings,
    id: String,
    bus: AmqpBus,
    store: Arc<dyn Store>,
    executor: E,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let config = OrchestratorConfig::new(id.clone(), settings.bus_key.clone());
    let _metrics =
        match settings.metrics_addr {
            Some(addr) => Some(telemetry::Endpoint::start(addr, config.metrics.clone()).await.map_err(|error| {
                DaemonError::Config(format!("cannot listen on the metrics address {addr}: {error}"))
            })?),
            None => None,
        };
    let durability = Durability { store: store.clone(), lease_ttl: settings.lease_ttl };
    // Before the first heartbeat, so the lease's expiry is never later than this suggests.
    let leased_at = tokio::time::Instant::now();
    let orchestrator =
        Orchestrator::start_durable(bus, executor, config, durability).await.map_err(DaemonError::Start)?;
    let serving = orchestrator.serve(&settings.labels, settings.capacity).await.map_err(DaemonError::Bus)?;
    tracing::info!("serving jobs");
    let lease = lease::hold(store, id, lease::LeasePolicy::for_ttl(settings.lease_ttl), leased_at);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(shutdown, lease);
    let stop = loop {
        tokio::select! {
            _ = &mut shutdown => break Stop::Shutdown,
            lost = &mut lease => break Stop::LeaseLost(lost),
            _ = check.tick() => if serving.is_finished() { break Stop::BusLost },
        }
    };
    match stop {
        Stop::Shutdown => {
            serving.stop_within(settings.shutdown_grace).await;
            orchestrator.release_lease().await;
            Ok(())
        }
        Stop::BusLost => {
            serving.stop_within(settings.shutdown_grace).await;
            orchestrator.release_lease().await;
            Err(DaemonError::BusLost)
        }
        Stop::LeaseLost(lost) => {
            // No grace and no release: the database is out of reach, and every job must be gone
            // before the lease runs out. Killing the jobs' tasks kills their agents and VMs;
            // whatever is left dies with the process (PR_SET_PDEATHSIG).
            tracing::error!(
                unrenewed_ms = lost.unrenewed_for.as_millis() as u64,
                "the lease could not be renewed; stopping every job and exiting before it expires"
            );
            serving.stop_within(Duration::ZERO).await;
            let lease::LeaseLost { unrenewed_for, ttl, last_error } = lost;
            Err(DaemonError::LeaseLost { unrenewed_for, ttl, last_error })
        }
    }
}

/// Why [`serve`] stopped.
enum Stop {
    Shutdown,
    BusLost,
    LeaseLost(lease::LeaseLost),
}
