//! `solstice serve`'s settings: flag > environment > config file (TOML, `deny_unknown_fields`) >
//! default (brief §3.6). The reference with examples is docs/solstice-serve.md.
//!
//! Forge connections come from the file's `[[forgejo]]` and `[[github]]` tables, plus one of
//! each from the environment: `SOLSTICE_FORGEJO_URL` (with `SOLSTICE_FORGEJO_TOKEN`,
//! `SOLSTICE_LABELS`, `SOLSTICE_RUNNER_NAME`) and `SOLSTICE_GITHUB_URL` (with
//! `SOLSTICE_GITHUB_TOKEN`, `SOLSTICE_GITHUB_API_URL` and the same labels and name). An
//! environment connection whose URL matches a table of the file (one that names no other runner)
//! overrides that table's token, labels and name; otherwise it is one more connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{ExecutorKind, GuestNetwork};
use crate::serve::ServeArgs;
use connections::{EnvConnections, forgejo_connections, github_connections};

mod connections;

/// The runner name when neither the file nor `SOLSTICE_RUNNER_NAME` gives one.
pub const DEFAULT_NAME: &str = "solstice";

/// Everything `solstice serve` runs with, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub state_dir: PathBuf,
    /// Always `sqlite://…`: one host keeps its state in one file.
    pub database_url: String,
    pub executor: ExecutorKind,
    pub guest_network: GuestNetwork,
    /// How many jobs the orchestrator runs at once, and each connection's default capacity.
    pub capacity: u32,
    /// How long running jobs may take to finish after SIGTERM before they are cancelled.
    pub shutdown_timeout: Duration,
    /// Where `/metrics` and `/healthz` are served, if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub forgejo: Vec<ForgejoConnection>,
    pub github: Vec<GithubConnection>,
}

/// One Forgejo instance the host runs jobs for.
#[derive(Debug, Clone)]
pub struct ForgejoConnection {
    pub url: String,
    pub name: String,
    /// The registration. Read when it exists; otherwise written by registering with `token`.
    pub runner_file: PathBuf,
    pub token: Option<forgejo::RunnerToken>,
    /// Labels to register with or declare; `None`: the `.runner` file's.
    pub labels: Option<Vec<String>>,
    pub capacity: u32,
    pub fetch_interval: Duration,
}

/// One GitHub scope (an organisation or a repository) the host runs jobs for.
#[derive(Debug, Clone)]
pub struct GithubConnection {
    pub url: String,
    pub name: String,
    pub token: Option<contract::SecretString>,
    /// The API base when it is not derived from `url` (GitHub Enterprise, tests).
    pub api_url: Option<String>,
    pub labels: Vec<String>,
    pub capacity: u32,
}

/// A setting that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("configure `solstice serve`: {0}")]
pub struct ConfigError(pub String);

fn invalid(reason: impl Into<String>) -> ConfigError {
    ConfigError(reason.into())
}

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    database_url: Option<String>,
    executor: Option<String>,
    guest_network: Option<String>,
    capacity: Option<u32>,
    shutdown_timeout_secs: Option<u64>,
    metrics_addr: Option<String>,
    #[serde(default)]
    forgejo: Vec<ForgejoTable>,
    #[serde(default)]
    github: Vec<GithubTable>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForgejoTable {
    pub(super) url: String,
    pub(super) name: Option<String>,
    pub(super) runner_file: Option<PathBuf>,
    pub(super) token: Option<String>,
    pub(super) labels: Option<Vec<String>>,
    pub(super) capacity: Option<u32>,
    pub(super) fetch_interval_secs: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GithubTable {
    pub(super) url: String,
    pub(super) name: Option<String>,
    pub(super) token: Option<String>,
    pub(super) api_url: Option<String>,
    pub(super) labels: Option<Vec<String>>,
    pub(super) capacity: Option<u32>,
}

impl ServeConfig {
    /// Resolves the settings from the flags, the environment (`env` looks a variable up), the
    /// config file and `state_dir`, the default state directory (`None`: none could be found).
    pub fn resolve(
        args: &ServeArgs,
        env: impl Fn(&str) -> Option<String>,
        default_state_dir: Option<PathBuf>,
    ) -> Result<ServeConfig, ConfigError> {
        let env = |name: &str| env(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        let state_dir = env("SOLSTICE_STATE_DIR").map(PathBuf::from).or(default_state_dir).ok_or_else(|| {
            invalid("find a state directory: set SOLSTICE_STATE_DIR (neither XDG_STATE_HOME nor HOME is set)")
        })?;
        let database_url = env("SOLSTICE_DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", state_dir.join("solstice.db").display()));
        if !database_url.starts_with("sqlite://") {
            return Err(invalid(
                "the database URL must be sqlite://…: `solstice serve` keeps its state in one SQLite file \
                 (PostgreSQL is for the standalone orchestrator and runners)",
            ));
        }
        let executor = match args.executor {
            Some(kind) => kind,
            None => match env("SOLSTICE_EXECUTOR").or(file.executor).as_deref() {
                None | Some("qemu") => ExecutorKind::Qemu,
                Some("local") => ExecutorKind::Local,
                Some(other) => return Err(invalid(format!("the executor must be qemu or local, not {other:?}"))),
            },
        };
        let guest_network = match args.guest_network {
            Some(network) => network,
            None => match env("SOLSTICE_GUEST_NETWORK").or(file.guest_network).as_deref() {
                None | Some("routed") => GuestNetwork::Routed,
                Some("none") => GuestNetwork::None,
                Some(other) => {
                    return Err(invalid(format!("the guest network must be routed or none, not {other:?}")));
                }
            },
        };
        let capacity = match (args.capacity, env("SOLSTICE_CAPACITY")) {
            (Some(n), _) => n,
            (None, Some(text)) => {
                text.parse().map_err(|_| invalid(format!("SOLSTICE_CAPACITY is not a number: {text:?}")))?
            }
            (None, None) => file.capacity.unwrap_or(1),
        };
        if capacity == 0 {
            return Err(invalid("the capacity must be at least 1"));
        }
        let metrics_addr =
            match args.metrics_addr.clone().or_else(|| env("SOLSTICE_METRICS_ADDR")).or(file.metrics_addr) {
                Some(text) => Some(
                    text.trim()
                        .parse()
                        .map_err(|_| invalid(format!("the metrics address is not ADDRESS:PORT: {text:?}")))?,
                ),
                None => None,
            };
        let connections = EnvConnections::read(&env);
        let forgejo = forgejo_connections(file.forgejo, &connections, &state_dir, capacity)?;
        let github = github_connections(file.github, &connections, capacity)?;
        if forgejo.is_empty() && github.is_empty() {
            return Err(invalid(
                "there is nothing to serve: add a [[forgejo]] or [[github]] table to the config file, or set \
                 SOLSTICE_FORGEJO_URL or SOLSTICE_GITHUB_URL",
            ));
        }
        Ok(ServeConfig {
            state_dir,
            database_url,
            executor,
            guest_network,
            capacity,
            shutdown_timeout: Duration::from_secs(file.shutdown_timeout_secs.unwrap_or(300)),
            metrics_addr,
            forgejo,
            github,
        })
    }
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| invalid(format!("cannot read {}: {error}", path.display())))?;
    toml::from_str(&text).map_err(|error| invalid(format!("{}: {error}", path.display())))
}

#[cfg(test)]
mod tests;
