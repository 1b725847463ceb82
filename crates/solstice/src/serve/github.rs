//! A GitHub connection's registrations: the ones configured in its directory, else as many as its
//! capacity (one job at a time each), configured with its token as `github-runner configure`
//! would. Each connection keeps its own directory, `<state dir>/github/<host and path>/`, so
//! its registrations live under `…/github/<name>-N/` exactly where `github-runner` keeps them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use github::registration::{ConfigureOptions, RegistrationError};
use github::settings::Settings;

use crate::serve::config::GithubConnection;

/// Why a GitHub connection has no usable registration.
#[derive(Debug, thiserror::Error)]
pub enum GithubSetupError {
    #[error(
        "register with {url}: there is no registration in {dir} and no token to register with (set token in the [[github]] table or SOLSTICE_GITHUB_TOKEN)"
    )]
    NoToken { url: String, dir: String },
    #[error("use the registrations for {url}")]
    Daemon {
        url: String,
        #[source]
        source: github::daemon::DaemonError,
    },
    #[error("register with {url}")]
    Register {
        url: String,
        #[source]
        source: RegistrationError,
    },
    #[error("use the registrations for {url}: {reason}")]
    Labels { url: String, reason: String },
}

impl GithubSetupError {
    /// 2 configuration, 3 GitHub unreachable, 4 the token refused (brief §3.7).
    pub fn exit_code(&self) -> u8 {
        match self {
            GithubSetupError::Register { source, .. } => source.exit_code(),
            GithubSetupError::Daemon { source, .. } => source.exit_code(),
            GithubSetupError::NoToken { .. } | GithubSetupError::Labels { .. } => 2,
        }
    }
}

/// A connection ready to run: the GitHub daemon's settings and the labels its jobs route by.
pub struct GithubRegistered {
    pub url: String,
    pub settings: Settings,
    pub labels: Vec<String>,
}

/// Finds the connection's registrations, configuring them first when there are none.
pub async fn ensure(
    connection: &GithubConnection,
    state_dir: &Path,
    shutdown_timeout: Duration,
) -> Result<GithubRegistered, GithubSetupError> {
    let url = connection.url.clone();
    let dir = connection_dir(state_dir, &url);
    let daemon_error = |source| GithubSetupError::Daemon { url: url.clone(), source };
    let mut found = github::daemon::registrations(&dir).map_err(daemon_error)?;
    if found.is_empty() {
        let Some(token) = &connection.token else {
            return Err(GithubSetupError::NoToken { url, dir: dir.join("github").display().to_string() });
        };
        let options = ConfigureOptions {
            url: url.clone(),
            token: token.expose().to_owned(),
            name: connection.name.clone(),
            labels: connection.labels.clone(),
            runner_group: None,
            replace: false,
            ephemeral: false,
            count: connection.capacity,
            state_dir: dir.clone(),
            api_url: connection.api_url.clone(),
        };
        let made = github::registration::configure(&options)
            .await
            .map_err(|source| GithubSetupError::Register { url: url.clone(), source })?;
        tracing::info!(%url, runners = made.len(), dir = %dir.display(), "registered with GitHub");
        found = github::daemon::registrations(&dir).map_err(daemon_error)?;
    }
    let mut labels = Vec::new();
    for (_, registration, _) in &found {
        let label = github::daemon::route_label(&registration.labels).map_err(|reason| GithubSetupError::Labels {
            url: url.clone(),
            reason: format!("{}: {reason}", registration.agent_name),
        })?;
        labels.push(label);
    }
    // The daemon's own settings resolution, with this connection's directory and API base in
    // place of the standalone runner's environment (no broker: the bus is given).
    let api_url = connection.api_url.clone();
    let scope_dir = dir.display().to_string();
    let env = move |name: &str| match name {
        "SOLSTICE_STATE_DIR" => Some(scope_dir.clone()),
        "SOLSTICE_GITHUB_API_URL" => api_url.clone(),
        "SOLSTICE_AMQP_URL" => None,
        other => std::env::var(other).ok(),
    };
    let mut settings =
        Settings::resolve(None, env).map_err(|error| daemon_error(github::daemon::DaemonError::Settings(error)))?;
    settings.shutdown_timeout = shutdown_timeout;
    Ok(GithubRegistered { url, settings, labels })
}

/// `<state dir>/github/<host and path of url>`.
fn connection_dir(state_dir: &Path, url: &str) -> PathBuf {
    let scope = url.split_once("://").map_or(url, |(_, rest)| rest);
    let slug: String =
        scope.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    state_dir.join("github").join(slug)
}
