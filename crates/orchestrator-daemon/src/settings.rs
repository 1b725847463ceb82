//! Settings: flag > env > config file (TOML, `deny_unknown_fields`) > default (brief §3.6).
//! The broker URL and the bus key come only from the environment: they are secrets.
//!
//! | flag | env | file key | default |
//! |---|---|---|---|
//! | | `SOLSTICE_AMQP_URL` | | required (exit 2) |
//! | | `SOLSTICE_BUS_KEY` | | required: standard base64 of 32 bytes (exit 2) |
//! | `--labels a,b` | `SOLSTICE_LABELS` | `labels` | every label of the catalog |
//! | `--capacity N` | `SOLSTICE_CAPACITY` | `capacity` | 1 |
//! | `--executor` | `SOLSTICE_EXECUTOR` | `executor` | `qemu` |
//! | `--guest-network` | `SOLSTICE_GUEST_NETWORK` | `guest_network` | `routed`: the WAN and nothing of the host (`none`: no network at all; needs `nft`, Debian `nftables`, when routed) |
//! | | `SOLSTICE_STATE_DIR` | `state_dir` | `/var/lib/solstice` as root, else `$XDG_STATE_HOME/solstice` |
//! | | `SOLSTICE_DATABASE_URL` | `database_url` | `sqlite://<state dir>/orchestrator.db` |
//! | | `SOLSTICE_AGENT_DIR` | `agent_dir` | beside the executable |
//! | `--metrics-addr` | `SOLSTICE_METRICS_ADDR` | `metrics_addr` | none: `/metrics` and `/healthz` are not served |
//! | | | `lease_ttl_secs` | 30 (renewed every third; unrenewed for half of it: exit 3, see `lease.rs`) |
//! | | | `shutdown_grace_secs` | 300 |
//! | | | `database_budget_secs` | 60 (how long an unreachable database is retried at start) |

use std::path::{Path, PathBuf};
use std::time::Duration;

use bus::AmqpSettings;
use contract::BusKey;
use serde::Deserialize;

use crate::DaemonError;

/// The command line. Every flag is optional; unset ones fall back to env, file, default.
#[derive(Debug, Default, clap::Parser)]
#[command(name = "orchestrator", version, about = "Runs CI jobs from RabbitMQ on QEMU VMs (or local child processes)")]
pub struct Cli {
    /// A TOML config file (its settings rank below flags and environment variables).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The catalog labels to serve, comma separated (default: every label of the catalog).
    #[arg(long, value_delimiter = ',', value_name = "LABELS")]
    pub labels: Option<Vec<String>>,
    /// How many jobs run at once.
    #[arg(long, value_name = "N")]
    pub capacity: Option<u32>,
    /// Where jobs run: `qemu` (one VM per job) or `local` (child processes, no isolation).
    #[arg(long, value_name = "qemu|local")]
    pub executor: Option<String>,
    /// What a VM's guest reaches: `routed` (the WAN and nothing of this host) or `none`.
    #[arg(long, value_name = "routed|none")]
    pub guest_network: Option<String>,
    /// Serve `/metrics` (Prometheus text) and `/healthz` on this address, e.g. `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
}

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    labels: Option<Vec<String>>,
    capacity: Option<u32>,
    executor: Option<String>,
    guest_network: Option<String>,
    metrics_addr: Option<String>,
    state_dir: Option<PathBuf>,
    database_url: Option<String>,
    agent_dir: Option<PathBuf>,
    lease_ttl_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    database_budget_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    Qemu,
    Local,
}

/// What a qemu job's guest can reach (brief §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestNetwork {
    /// The WAN, with DNS through a relay on the host side, and nothing of this host:
    /// [`vm::Uplink::Routed`].
    Routed,
    /// Nothing: [`vm::Uplink::Blackhole`].
    None,
}

impl GuestNetwork {
    /// The executor's network mode for this choice; always a namespace per VM (the daemon runs
    /// as root).
    pub fn mode(self) -> vm::NetworkMode {
        match self {
            GuestNetwork::Routed => vm::NetworkMode::PerVm(vm::Uplink::Routed),
            GuestNetwork::None => vm::NetworkMode::PerVm(vm::Uplink::Blackhole),
        }
    }
}

/// Everything the daemon runs with, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub amqp: AmqpSettings,
    /// `postgres://…` or `sqlite://…`; may hold a password, so never logged.
    pub database_url: String,
    pub state_dir: PathBuf,
    pub labels: Vec<String>,
    pub capacity: u32,
    pub executor: ExecutorKind,
    pub guest_network: GuestNetwork,
    pub bus_key: BusKey,
    /// `SOLSTICE_AGENT_DIR`.
    pub agent_dir: Option<PathBuf>,
    pub lease_ttl: Duration,
    /// How long running jobs may take to finish after SIGTERM before they are killed.
    pub shutdown_grace: Duration,
    /// How long the database may stay unreachable at start before exit 3.
    pub database_budget: Duration,
    /// Where `/metrics` and `/healthz` are served, if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Settings {
    /// Resolves the settings from the flags, the environment (`env` looks a variable up) and
    /// the config file.
    pub fn resolve(cli: Cli, env: impl Fn(&str) -> Option<String>) -> Result<Settings, DaemonError> {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        let url = env(bus::amqp::AMQP_URL_ENV).ok_or_else(|| config("SOLSTICE_AMQP_URL is not set"))?;
        let amqp = AmqpSettings::new(url.trim());
        amqp.validate().map_err(|error| config(error.to_string()))?;
        let bus_key = match env("SOLSTICE_BUS_KEY") {
            Some(key) => BusKey::from_base64(key.trim())
                .map_err(|error| config(format!("SOLSTICE_BUS_KEY is not a bus key: {error}")))?,
            None => return Err(config("SOLSTICE_BUS_KEY is not set (standard base64 of 32 bytes)")),
        };
        let executor = match cli.executor.or_else(|| env("SOLSTICE_EXECUTOR")).or(file.executor).as_deref() {
            None | Some("qemu") => ExecutorKind::Qemu,
            Some("local") => ExecutorKind::Local,
            Some(other) => return Err(config(format!("the executor must be qemu or local, not {other:?}"))),
        };
        let guest_network =
            match cli.guest_network.or_else(|| env("SOLSTICE_GUEST_NETWORK")).or(file.guest_network).as_deref() {
                None | Some("routed") => GuestNetwork::Routed,
                Some("none") => GuestNetwork::None,
                Some(other) => {
                    return Err(config(format!("the guest network must be routed or none, not {other:?}")));
                }
            };
        let state_dir =
            env("SOLSTICE_STATE_DIR").map(PathBuf::from).or(file.state_dir).unwrap_or_else(default_state_dir);
        let database_url = env("SOLSTICE_DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", state_dir.join("orchestrator.db").display()));
        let labels = match cli.labels.or_else(|| env("SOLSTICE_LABELS").map(|l| split(&l))).or(file.labels) {
            Some(labels) => labels,
            None => default_labels(executor, &state_dir, &env)?,
        };
        let labels: Vec<String> = labels.into_iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
        if labels.is_empty() {
            return Err(config("no label to serve"));
        }
        let capacity = match cli.capacity {
            Some(n) => n,
            None => match env("SOLSTICE_CAPACITY") {
                Some(text) => {
                    text.trim().parse().map_err(|_| config(format!("SOLSTICE_CAPACITY is not a number: {text:?}")))?
                }
                None => file.capacity.unwrap_or(1),
            },
        };
        if capacity == 0 {
            return Err(config("the capacity must be at least 1"));
        }
        let metrics_addr = match cli.metrics_addr.or_else(|| env("SOLSTICE_METRICS_ADDR")).or(file.metrics_addr) {
            Some(text) => Some(
                text.trim()
                    .parse()
                    .map_err(|_| config(format!("the metrics address is not ADDRESS:PORT: {text:?}")))?,
            ),
            None => None,
        };
        Ok(Settings {
            amqp,
            database_url,
            state_dir,
            labels,
            capacity,
            executor,
            guest_network,
            bus_key,
            agent_dir: env("SOLSTICE_AGENT_DIR").map(PathBuf::from).or(file.agent_dir),
            lease_ttl: Duration::from_secs(file.lease_ttl_secs.unwrap_or(30).max(1)),
            shutdown_grace: Duration::from_secs(file.shutdown_grace_secs.unwrap_or(300)),
            database_budget: Duration::from_secs(file.database_budget_secs.unwrap_or(60)),
            metrics_addr,
        })
    }
}

fn config(reason: impl Into<String>) -> DaemonError {
    DaemonError::Config(reason.into())
}

fn read_file(path: &Path) -> Result<File, DaemonError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| config(format!("cannot read {}: {error}", path.display())))?;
    toml::from_str(&text).map_err(|error| config(format!("{}: {error}", path.display())))
}

fn split(list: &str) -> Vec<String> {
    list.split(',').map(str::to_owned).collect()
}

/// Every label of the catalog for the local executor (it boots no image); for QEMU, the labels
/// whose image is on this host, so the orchestrator never takes a job it can only fail.
fn default_labels(
    executor: ExecutorKind,
    state_dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, DaemonError> {
    let catalog = match env("SOLSTICE_IMAGES") {
        Some(path) => vm::Catalog::load(Path::new(&path)),
        None => vm::Catalog::builtin(),
    }
    .map_err(|error| config(format!("the image catalog: {error}")))?;
    if executor == ExecutorKind::Local {
        return Ok(catalog.labels().map(str::to_owned).collect());
    }
    let (present, absent): (Vec<_>, Vec<_>) =
        images::list(&catalog, state_dir).into_iter().partition(|entry| entry.cached);
    if !absent.is_empty() {
        let absent: Vec<&str> = absent.iter().map(|entry| entry.label.as_str()).collect();
        tracing::info!(
            labels = %absent.join(","),
            "not serving the catalog labels whose image is not on this host (`solstice images pull LABEL`)"
        );
    }
    if present.is_empty() {
        return Err(config(format!(
            "no image of the catalog is on this host under {}: pull one with `solstice images pull LABEL`, or name \
             the labels to serve (SOLSTICE_LABELS)",
            images::images_dir(state_dir).display()
        )));
    }
    Ok(present.into_iter().map(|entry| entry.label).collect())
}

/// `/var/lib/solstice` as root, `$XDG_STATE_HOME/solstice` (or `~/.local/state/solstice`)
/// otherwise.
fn default_state_dir() -> PathBuf {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/solstice");
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("solstice");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".local/state/solstice")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn resolve(cli: Cli, extra: &[(&str, &str)]) -> Result<Settings, DaemonError> {
        let mut vars = vec![("SOLSTICE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"), ("SOLSTICE_BUS_KEY", KEY)];
        vars.extend_from_slice(extra);
        let cli = Cli { labels: Some(vec!["linux".into()]), ..cli };
        Settings::resolve(cli, |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn guests_are_routed_unless_told_otherwise() {
        let settings = resolve(Cli::default(), &[]).map_err(|e| e.to_string());
        assert_eq!(settings.map(|s| s.guest_network.mode()), Ok(vm::NetworkMode::PerVm(vm::Uplink::Routed)));
    }

    #[test]
    fn none_gives_a_blackhole_and_the_flag_beats_the_environment_and_the_file() {
        let by_env = resolve(Cli::default(), &[("SOLSTICE_GUEST_NETWORK", "none")]).map(|s| s.guest_network.mode());
        assert_eq!(by_env.map_err(|e| e.to_string()), Ok(vm::NetworkMode::PerVm(vm::Uplink::Blackhole)));

        let dir = std::env::temp_dir().join(format!("solstice-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let file = dir.join("orchestrator.toml");
        std::fs::write(&file, "guest_network = \"none\"\n").expect("a config file");
        let by_file = resolve(Cli { config: Some(file.clone()), ..Cli::default() }, &[]).map(|s| s.guest_network);
        let flag = Cli { config: Some(file), guest_network: Some("routed".into()), ..Cli::default() };
        let by_flag = resolve(flag, &[("SOLSTICE_GUEST_NETWORK", "none")]).map(|s| s.guest_network);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(by_file.map_err(|e| e.to_string()), Ok(GuestNetwork::None));
        assert_eq!(by_flag.map_err(|e| e.to_string()), Ok(GuestNetwork::Routed));
    }

    #[test]
    fn an_unknown_guest_network_is_a_configuration_error() {
        let error = resolve(Cli { guest_network: Some("bridged".into()), ..Cli::default() }, &[]).err();
        assert_eq!(error.as_ref().map(DaemonError::exit_code), Some(2));
        assert!(error.is_some_and(|e| e.to_string().contains("routed or none")), "an unknown value is refused");
    }

    fn default_labels_with(executor: &str, state: &Path) -> Result<Vec<String>, String> {
        let vars = [
            ("SOLSTICE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
            ("SOLSTICE_BUS_KEY", KEY.to_owned()),
            ("SOLSTICE_EXECUTOR", executor.to_owned()),
            ("SOLSTICE_STATE_DIR", state.display().to_string()),
        ];
        Settings::resolve(Cli::default(), |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
            .map(|settings| settings.labels)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn by_default_qemu_serves_only_the_images_on_this_host_and_local_serves_every_label() {
        let state = std::env::temp_dir().join(format!("solstice-labels-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).expect("a state dir");
        let none = default_labels_with("qemu", &state);
        assert!(none.as_ref().is_err_and(|e| e.contains("solstice images pull")), "{none:?}");

        let image = state.join("images/linux-test");
        std::fs::create_dir_all(&image).expect("an image dir");
        for file in ["vmlinuz", "initramfs.cpio.gz"] {
            std::fs::write(image.join(file), b"x").expect("an image file");
        }
        let one = default_labels_with("qemu", &state);
        let every = default_labels_with("local", &state);
        let _ = std::fs::remove_dir_all(&state);
        assert_eq!(one, Ok(vec!["linux-test".to_owned()]));
        let every = every.expect("local needs no image");
        assert!(every.contains(&"linux-test".to_owned()) && every.contains(&"omnios-r151054".to_owned()), "{every:?}");
    }
}
