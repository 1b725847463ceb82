//! `github-runner`'s settings: flag > environment > config file (TOML, `deny_unknown_fields`) >
//! default, as the Forgejo runner resolves its own (brief §3.6). Secrets (the broker URL with its
//! password, the bus key) come from the environment only.
//!
//! | flag | env | file key | default |
//! |---|---|---|---|
//! | `--config FILE` | | | none |
//! | | `SOLSTICE_STATE_DIR` | | the working directory |
//! | | `SOLSTICE_AMQP_URL` | | required by `run` (exit 2) |
//! | | `SOLSTICE_BUS_KEY` | | required by `run` (exit 2) |
//! | | `SOLSTICE_DATABASE_URL` | | `sqlite://<state dir>/github-runner.sqlite` |
//! | | `SOLSTICE_GITHUB_API_URL` | `api_url` | from the registration |
//! | | `SOLSTICE_GITHUB_SHUTDOWN_TIMEOUT` | `shutdown_timeout_secs` | 10800 (3 h) |
//! | | `SOLSTICE_GITHUB_RENEW_INTERVAL` | `renew_interval_secs` | 60 (tests only: shorter renewals) |
//! | | `SOLSTICE_GITHUB_SILENCE` | `orchestrator_silence_secs` | 60 (tests only) |
//! | | `SOLSTICE_GITHUB_POLL_TIMEOUT` | | 100 (tests only: the broker long poll) |
//!
//! The test-only settings exist so the integration tests can exercise a renewal across a step or
//! an orchestrator's silence in seconds; operators leave them at their defaults (ref §4.3).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    api_url: Option<String>,
    shutdown_timeout_secs: Option<f64>,
    renew_interval_secs: Option<f64>,
    orchestrator_silence_secs: Option<f64>,
}

/// Everything `github-runner run` runs with, validated. The bus key and database URL are not
/// here: [`crate::daemon::Secrets`] reads them, so this can be printed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where `github/<name>/` registrations live (and the SQLite store by default).
    pub state_dir: PathBuf,
    /// The broker; `None` when `SOLSTICE_AMQP_URL` is unset (only `run` needs it).
    pub amqp: Option<bus::AmqpSettings>,
    /// The REST API base override (`SOLSTICE_GITHUB_API_URL`).
    pub api_url: Option<String>,
    /// How long running jobs may take to finish after SIGTERM before they are cancelled.
    pub shutdown_timeout: Duration,
    /// Between two renewals of a running job's lease (ref §4.3: 60 s).
    pub renew_interval: Duration,
    /// How long the orchestrator may send nothing before the job is failed (issue 5 §9: 60 s).
    pub silence: Duration,
    /// The broker's long-poll timeout (ref §3.7: 100 s).
    pub poll_timeout: Duration,
}

/// A setting that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("configure the runner: {0}")]
pub struct SettingsError(pub String);

fn invalid(reason: impl Into<String>) -> SettingsError {
    SettingsError(reason.into())
}

/// `SOLSTICE_STATE_DIR` when set, else the working directory.
pub fn state_dir(env: &impl Fn(&str) -> Option<String>) -> PathBuf {
    match env("SOLSTICE_STATE_DIR").filter(|dir| !dir.trim().is_empty()) {
        Some(dir) => PathBuf::from(dir.trim()),
        None => PathBuf::from("."),
    }
}

/// `SOLSTICE_GITHUB_API_URL` when set.
pub fn api_url(env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    env("SOLSTICE_GITHUB_API_URL").map(|url| url.trim().to_owned()).filter(|url| !url.is_empty())
}

impl Settings {
    /// Resolves the settings from the config file (if any), the environment (`env` looks a
    /// variable up) and the defaults.
    pub fn resolve(config: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let file = match config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        let amqp = match env(bus::amqp::AMQP_URL_ENV) {
            Some(url) => {
                let amqp = bus::AmqpSettings::new(url.trim());
                amqp.validate().map_err(|error| invalid(error.to_string()))?;
                Some(amqp)
            }
            None => None,
        };
        let seconds = |name: &str, key: &str, file: Option<f64>, default: f64| -> Result<Duration, SettingsError> {
            let value = match env(name) {
                Some(text) => {
                    text.trim().parse::<f64>().map_err(|_| invalid(format!("{name} is not a number: {text:?}")))?
                }
                None => file.unwrap_or(default),
            };
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|duration| !duration.is_zero())
                .ok_or_else(|| invalid(format!("{key} must be a positive number of seconds, not {value}")))
        };
        Ok(Settings {
            state_dir: state_dir(&env),
            amqp,
            api_url: api_url(&env).or(file.api_url),
            shutdown_timeout: seconds(
                "SOLSTICE_GITHUB_SHUTDOWN_TIMEOUT",
                "shutdown_timeout_secs",
                file.shutdown_timeout_secs,
                3.0 * 60.0 * 60.0,
            )?,
            renew_interval: seconds(
                "SOLSTICE_GITHUB_RENEW_INTERVAL",
                "renew_interval_secs",
                file.renew_interval_secs,
                60.0,
            )?,
            silence: seconds(
                "SOLSTICE_GITHUB_SILENCE",
                "orchestrator_silence_secs",
                file.orchestrator_silence_secs,
                60.0,
            )?,
            poll_timeout: seconds("SOLSTICE_GITHUB_POLL_TIMEOUT", "poll_timeout", None, 100.0)?,
        })
    }

    /// The registrations' parent directory, `<state dir>/github`.
    pub fn registrations_dir(&self) -> PathBuf {
        self.state_dir.join("github")
    }
}

fn read_file(path: &Path) -> Result<File, SettingsError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| invalid(format!("cannot read {}: {error}", path.display())))?;
    toml::from_str(&text).map_err(|error| invalid(format!("{}: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    }

    #[test]
    fn defaults_without_environment() {
        let settings = Settings::resolve(None, env_of(&[])).unwrap();
        assert_eq!(settings.state_dir, PathBuf::from("."));
        assert!(settings.amqp.is_none());
        assert_eq!(settings.renew_interval, Duration::from_secs(60));
        assert_eq!(settings.silence, Duration::from_secs(60));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(10800));
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runner.toml");
        std::fs::write(&path, "renew_interval_secs = 5\norchestrator_silence_secs = 7\n").unwrap();
        let settings = Settings::resolve(
            Some(&path),
            env_of(&[("SOLSTICE_GITHUB_RENEW_INTERVAL", "0.5"), ("SOLSTICE_STATE_DIR", "/s")]),
        )
        .unwrap();
        assert_eq!(settings.renew_interval, Duration::from_millis(500));
        assert_eq!(settings.silence, Duration::from_secs(7));
        assert_eq!(settings.state_dir, PathBuf::from("/s"));
    }

    #[test]
    fn bad_values_are_refused() {
        let error = Settings::resolve(None, env_of(&[("SOLSTICE_GITHUB_SILENCE", "soon")])).unwrap_err();
        assert!(error.to_string().contains("SOLSTICE_GITHUB_SILENCE"), "{error}");
        let error = Settings::resolve(None, env_of(&[("SOLSTICE_GITHUB_RENEW_INTERVAL", "0")])).unwrap_err();
        assert!(error.to_string().contains("renew_interval_secs"), "{error}");
    }
}
