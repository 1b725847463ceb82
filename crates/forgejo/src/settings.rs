//! The daemon's settings: flag > env > config file (TOML, `deny_unknown_fields`) > default
//! (brief §3.6). The broker URL comes only from the environment: it holds a password.
//!
//! | flag | env | file key | default |
//! |---|---|---|---|
//! | `--config FILE` | | | none |
//! | | `SOLSTICE_AMQP_URL` | | required (exit 2) |
//! | | `SOLSTICE_STATE_DIR` | `runner_file` | `<state dir>/.runner`, else `./.runner` |
//! | `--labels a,b` | `SOLSTICE_LABELS` | `labels` | the labels of the `.runner` file |
//! | `--capacity N` | `SOLSTICE_CAPACITY` | `capacity` | 1 |
//! | | | `fetch_interval_secs` | 2 (at most 60: Forgejo shows a runner offline after a minute) |
//! | | | `fetch_timeout_secs` | 30 (at most 50, for the same reason) |
//! | | | `shutdown_timeout_secs` | 10800 (3 h, how long running jobs may finish after SIGTERM) |

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::fetch::{FetchConfig, MAX_SILENCE};
use crate::registration::RUNNER_FILE;

/// What the command line may set; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub labels: Option<Vec<String>>,
    pub capacity: Option<u32>,
}

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    runner_file: Option<PathBuf>,
    labels: Option<Vec<String>>,
    capacity: Option<u32>,
    fetch_interval_secs: Option<f64>,
    fetch_timeout_secs: Option<f64>,
    shutdown_timeout_secs: Option<u64>,
}

/// Everything the daemon runs with, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub amqp: bus::AmqpSettings,
    pub runner_file: PathBuf,
    /// Labels to declare instead of the `.runner` file's.
    pub labels: Option<Vec<String>>,
    pub capacity: u32,
    pub fetch: FetchConfig,
    pub shutdown_timeout: Duration,
}

/// A setting that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("configure the runner: {0}")]
pub struct SettingsError(pub String);

fn invalid(reason: impl Into<String>) -> SettingsError {
    SettingsError(reason.into())
}

/// Where `register` writes and the daemon reads the `.runner` file: `SOLSTICE_STATE_DIR` when
/// set, else the working directory.
pub fn runner_file_path(env: &impl Fn(&str) -> Option<String>) -> PathBuf {
    match env("SOLSTICE_STATE_DIR").filter(|dir| !dir.trim().is_empty()) {
        Some(dir) => Path::new(dir.trim()).join(RUNNER_FILE),
        None => PathBuf::from(RUNNER_FILE),
    }
}

impl Settings {
    /// Resolves the settings from the flags, the environment (`env` looks a variable up) and
    /// the config file.
    pub fn resolve(flags: Flags, env: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let file = match &flags.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        let url = env(bus::amqp::AMQP_URL_ENV).ok_or_else(|| invalid("SOLSTICE_AMQP_URL is not set"))?;
        let amqp = bus::AmqpSettings::new(url.trim());
        amqp.validate().map_err(|error| invalid(error.to_string()))?;
        let runner_file = match env("SOLSTICE_STATE_DIR") {
            Some(_) => runner_file_path(&env),
            None => file.runner_file.unwrap_or_else(|| PathBuf::from(RUNNER_FILE)),
        };
        let labels = flags.labels.or_else(|| env("SOLSTICE_LABELS").map(|list| split(&list))).or(file.labels);
        let capacity = match flags.capacity {
            Some(n) => n,
            None => match env("SOLSTICE_CAPACITY") {
                Some(text) => {
                    text.trim().parse().map_err(|_| invalid(format!("SOLSTICE_CAPACITY is not a number: {text:?}")))?
                }
                None => file.capacity.unwrap_or(1),
            },
        };
        if capacity == 0 {
            return Err(invalid("the capacity must be at least 1"));
        }
        let interval = seconds("fetch_interval_secs", file.fetch_interval_secs, 2.0)?;
        if interval > MAX_SILENCE {
            return Err(invalid(
                "fetch_interval_secs may be at most 60: Forgejo shows a runner offline after a minute",
            ));
        }
        let fetch_timeout = seconds("fetch_timeout_secs", file.fetch_timeout_secs, 30.0)?;
        // A hung call is given up after fetch_timeout and the next one follows at once, so this
        // bounds the silence towards the server too.
        if fetch_timeout > Duration::from_secs(50) {
            return Err(invalid("fetch_timeout_secs may be at most 50, so the runner calls Forgejo every minute"));
        }
        Ok(Settings {
            amqp,
            runner_file,
            labels,
            capacity,
            fetch: FetchConfig { interval, fetch_timeout, ..FetchConfig::default() },
            shutdown_timeout: Duration::from_secs(file.shutdown_timeout_secs.unwrap_or(3 * 60 * 60)),
        })
    }
}

/// A sample config file with every key at its default, for `generate-config`.
pub fn example_config() -> String {
    "# Solstice forgejo-runner daemon settings. Flags and environment variables win over this file.\n\
     # SOLSTICE_AMQP_URL (required) is read from the environment only: it holds a password.\n\
     \n\
     # The registration written by `forgejo-runner register` (SOLSTICE_STATE_DIR/.runner wins when set).\n\
     runner_file = \".runner\"\n\
     # Labels to declare to Forgejo instead of the registration's (SOLSTICE_LABELS, --labels).\n\
     # labels = [\"linux-test\", \"self-hosted\"]\n\
     # How many jobs run at once (SOLSTICE_CAPACITY, --capacity).\n\
     capacity = 1\n\
     # Seconds between two FetchTask calls (at most 60) and how long one may take.\n\
     fetch_interval_secs = 2\n\
     fetch_timeout_secs = 30\n\
     # Seconds running jobs may take to finish after SIGTERM.\n\
     shutdown_timeout_secs = 10800\n"
        .to_owned()
}

fn seconds(key: &str, value: Option<f64>, default: f64) -> Result<Duration, SettingsError> {
    let value = value.unwrap_or(default);
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| invalid(format!("{key} must be a positive number of seconds, not {value}")))
}

fn read_file(path: &Path) -> Result<File, SettingsError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| invalid(format!("cannot read {}: {error}", path.display())))?;
    toml::from_str(&text).map_err(|error| invalid(format!("{}: {error}", path.display())))
}

fn split(list: &str) -> Vec<String> {
    list.split(',').map(|label| label.trim().to_owned()).filter(|label| !label.is_empty()).collect()
}
