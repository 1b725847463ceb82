//! `solstice serve`: the runners of the configured forge connections and an orchestrator in one
//! process, on an in-process bus and one SQLite file: one host, no broker, no database server.
//! The runners and the orchestrator are the same code the standalone daemons run
//! (`forgejo::daemon::run_with_deps`, `github::daemon::run_with`, `Orchestrator::start_durable`),
//! so a job behaves as it does in the distributed setup. User docs: docs/solstice-serve.md.
//!
//! Start: settings ([`config`]) → each connection's registration (a Forgejo `.runner` file or
//! GitHub runners, registered with the connection's token when there are none) → the store →
//! the executor → the orchestrator (its reconcile fails the attempts a previous run left
//! started) → the runners (`github::daemon::run_with` for a GitHub connection), and once every
//! runner follows the free-slot adverts, the orchestrator serves their labels.
//!
//! Stop (SIGTERM or SIGINT): the runners stop fetching and wait up to `shutdown_timeout` for
//! their running jobs, then cancel what is left and report its end; the orchestrator then
//! stops, killing any job still running, and releases its lease. Exit 0. A runner that fails
//! for good (its registration gone, Forgejo unreachable) stops everything the same way and the
//! process exits with that runner's code (brief §3.7).
//!
//! The bus key is generated per process (brief §3.1): nothing outlives the process on the bus,
//! so no `SOLSTICE_BUS_KEY` is needed.

mod config;
mod github;
mod registration;
mod runners;

use std::future::Future;
use std::path::{Path, PathBuf};

use bus::InProcessBus;
use clap::Args;
use contract::BusKey;
use orchestrator::{LocalExecutor, LocalExecutorConfig, locate_agent};

pub use config::{ConfigError, ForgejoConnection, GithubConnection, ServeConfig};
pub use github::GithubSetupError;
pub use registration::RegistrationError;

use crate::cli::{ExecutorKind, GuestNetwork};
use crate::vm_host::{self, VmHostError};

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML config file: forge connections (`[[forgejo]]`, `[[github]]`) and host settings;
    /// flags and environment variables win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where jobs run: `qemu` (one VM per job) or `local` (child processes, no isolation).
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
    /// What a VM's guest reaches: `routed` (the WAN and nothing of this host) or `none`.
    #[arg(long, value_enum)]
    pub guest_network: Option<GuestNetwork>,
    /// How many jobs run at once on this host.
    #[arg(long, value_name = "N")]
    pub capacity: Option<u32>,
    /// Serve `/metrics` (Prometheus text) and `/healthz` on this address, e.g. `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
}

/// Every way `solstice serve` fails; [`ServeError::exit_code`] maps them to brief §3.7.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("make the state directory {dir}")]
    StateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error(transparent)]
    GithubSetup(#[from] GithubSetupError),
    #[error("load the image catalog")]
    Catalog(#[source] vm::CatalogError),
    #[error("serve the labels {labels}: none of them is an image of the catalog (it has: {known})")]
    NoImage { labels: String, known: String },
    #[error("open the store")]
    Store(#[source] store::StoreError),
    #[error("generate the bus key")]
    BusKey(#[source] contract::KeyError),
    #[error(transparent)]
    VmHost(#[from] VmHostError),
    #[error(transparent)]
    Agent(#[from] orchestrator::AgentNotFound),
    #[error(transparent)]
    Start(orchestrator::StartError),
    #[error("listen on the metrics address {addr}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serve jobs on the in-process bus")]
    Bus(#[source] bus::BusError),
    #[error("run a runner: its task ended abnormally")]
    RunnerTask(#[source] tokio::task::JoinError),
    #[error("run the runner for {url}")]
    Forgejo {
        url: String,
        #[source]
        source: forgejo::daemon::DaemonError,
    },
    #[error("run the runners for {url}")]
    Github {
        url: String,
        #[source]
        source: ::github::daemon::DaemonError,
    },
}

impl ServeError {
    /// 2 configuration, 3 a dependency missing or unreachable, 4 a registration gone.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Config(_)
            | ServeError::StateDir { .. }
            | ServeError::Catalog(_)
            | ServeError::NoImage { .. }
            | ServeError::Metrics { .. } => 2,
            ServeError::Registration(error) => error.exit_code(),
            ServeError::GithubSetup(error) => error.exit_code(),
            ServeError::Github { source, .. } => source.exit_code(),
            ServeError::Store(error) if !error.is_unavailable() => 2,
            ServeError::VmHost(error) => error.exit_code(),
            ServeError::Forgejo { source, .. } => source.exit_code(),
            ServeError::Start(error) if !error.is_unavailable() => 2,
            ServeError::Store(_)
            | ServeError::BusKey(_)
            | ServeError::Agent(_)
            | ServeError::Start(_)
            | ServeError::Bus(_)
            | ServeError::RunnerTask(_) => 3,
        }
    }
}

/// Runs `solstice serve` until SIGTERM or SIGINT; returns the exit code.
pub async fn main(args: ServeArgs) -> u8 {
    let shutdown = shutdown_signal();
    let env = |name: &str| std::env::var(name).ok();
    let result = match ServeConfig::resolve(&args, env, vm_host::state_dir()) {
        Ok(config) => run(config, shutdown).await,
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            let text = format!("solstice serve: failed to {}", forgejo::error_chain(&error));
            eprintln!("{text}");
            tracing::error!(exit = error.exit_code(), "{text}");
            error.exit_code()
        }
    }
}

/// Serves until `shutdown` resolves (see the module's Start and Stop).
pub async fn run(config: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|source| ServeError::StateDir { dir: config.state_dir.clone(), source })?;
    let mut connections = runners::Connections { forgejo: Vec::new(), github: Vec::new() };
    for connection in &config.forgejo {
        connections.forgejo.push(registration::ensure(connection, config.shutdown_timeout).await?);
    }
    for connection in &config.github {
        connections.github.push(github::ensure(connection, &config.state_dir, config.shutdown_timeout).await?);
    }
    let labels = connections.labels();
    let store = store::connect(&config.database_url).await.map_err(ServeError::Store)?;
    let key = BusKey::generate().map_err(ServeError::BusKey)?;
    let id = orchestrator_id(&config.state_dir)?;
    let host = runners::Host { bus: InProcessBus::new(), store: store.clone(), key, orchestrator_id: id };
    let result = match config.executor {
        ExecutorKind::Local => {
            tracing::warn!(
                "the local executor runs every job's steps directly on this machine, as this user: no isolation \
                 at all; use it only for tests and trusted single-user hosts"
            );
            let agent = locate_agent(std::env::var_os("SOLSTICE_AGENT_DIR").as_deref().map(Path::new))?;
            let mut executor = LocalExecutorConfig::new(agent);
            executor.work_root = Some(config.state_dir.join("work"));
            runners::serve(host, LocalExecutor::new(executor), &config, connections, labels, shutdown).await
        }
        ExecutorKind::Qemu => {
            let labels = catalog_labels(labels)?;
            let executor = vm_host::qemu_executor(&labels, config.guest_network)?;
            runners::serve(host, executor, &config, connections, labels, shutdown).await
        }
    };
    store.close().await;
    result
}

/// The labels a VM can be booted for: the runners' labels that name a catalog image. The others
/// (`self-hosted`, say) are generic labels no job is routed by.
fn catalog_labels(labels: Vec<String>) -> Result<Vec<String>, ServeError> {
    let catalog = match std::env::var_os("SOLSTICE_IMAGES") {
        Some(path) => vm::Catalog::load(Path::new(&path)),
        None => vm::Catalog::builtin(),
    }
    .map_err(ServeError::Catalog)?;
    let (images, others): (Vec<String>, Vec<String>) =
        labels.into_iter().partition(|label| catalog.get(label).is_some());
    if images.is_empty() {
        let known = catalog.labels().collect::<Vec<_>>().join(", ");
        return Err(ServeError::NoImage { labels: others.join(", "), known });
    }
    if !others.is_empty() {
        tracing::info!(labels = %others.join(","), "labels that name no image are not served by the orchestrator");
    }
    Ok(images)
}

/// The orchestrator's stable id, kept in `<state dir>/orchestrator-id` like the standalone
/// orchestrator's, so a restarted `solstice serve` finds its own lease and attempts again.
fn orchestrator_id(state_dir: &Path) -> Result<String, ServeError> {
    orchestrator::orchestrator_id(state_dir)
        .map_err(|source| ServeError::StateDir { dir: state_dir.to_owned(), source })
}

fn shutdown_signal() -> impl Future<Output = ()> {
    telemetry::shutdown_signal("the runners stop fetching and let their running jobs finish")
}
