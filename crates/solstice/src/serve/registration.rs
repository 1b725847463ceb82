//! A Forgejo connection's registration: the `.runner` file when it exists, else one made by
//! registering with the connection's token, as `forgejo-runner register` would.

use std::time::Duration;

use forgejo::daemon::RunConfig;
use forgejo::fetch::FetchConfig;
use forgejo::registration::RunnerFileError;
use forgejo::{RegisterConfig, RegisterError, RunnerFile};

use crate::serve::config::ForgejoConnection;

/// How long an unreachable Forgejo is retried while registering.
const WAIT_FOR_SERVER: Duration = Duration::from_secs(10);

/// Why a Forgejo connection has no usable registration.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(
        "register with {url}: there is no {path} and no token to register with (set token in the [[forgejo]] table or SOLSTICE_FORGEJO_TOKEN)"
    )]
    NoToken { url: String, path: String },
    #[error("register with {url}: no labels to register with (set labels in the [[forgejo]] table or SOLSTICE_LABELS)")]
    NoLabels { url: String },
    #[error("use {path}: it is a registration with {registered}, not {url}")]
    OtherInstance { path: String, registered: String, url: String },
    #[error("use the registration for {url}")]
    File {
        url: String,
        #[source]
        source: RunnerFileError,
    },
    #[error("use the labels for {url}")]
    Labels {
        url: String,
        #[source]
        source: forgejo::labels::LabelError,
    },
    #[error("register with {url}")]
    Register {
        url: String,
        #[source]
        source: RegisterError,
    },
}

impl RegistrationError {
    /// 2 configuration, 3 Forgejo unreachable, 4 the token refused (brief §3.7).
    pub fn exit_code(&self) -> u8 {
        match self {
            RegistrationError::Register { source, .. } => source.exit_code(),
            _ => 2,
        }
    }
}

/// A connection ready to run: its runner loop's settings and the label names it serves.
pub struct Registered {
    pub url: String,
    pub config: RunConfig,
    pub labels: Vec<String>,
}

/// Loads the connection's `.runner` file, registering first when there is none.
pub async fn ensure(
    connection: &ForgejoConnection,
    shutdown_timeout: Duration,
) -> Result<Registered, RegistrationError> {
    let url = connection.url.clone();
    let path = &connection.runner_file;
    let file = if path.exists() {
        let file = RunnerFile::load(path).map_err(|source| RegistrationError::File { url: url.clone(), source })?;
        let registered = file.address.trim_end_matches('/');
        if registered != url {
            return Err(RegistrationError::OtherInstance {
                path: path.display().to_string(),
                registered: registered.to_owned(),
                url,
            });
        }
        tracing::info!(%url, runner = %file.name, path = %path.display(), "using the registration");
        file
    } else {
        let Some(token) = &connection.token else {
            return Err(RegistrationError::NoToken { url, path: path.display().to_string() });
        };
        let Some(labels) = connection.labels.clone() else {
            return Err(RegistrationError::NoLabels { url });
        };
        let register = RegisterConfig {
            instance_url: url.clone(),
            registration_token: token.clone(),
            name: connection.name.clone(),
            labels,
            ephemeral: false,
            runner_file: path.clone(),
            wait_for_server: WAIT_FOR_SERVER,
        };
        let file = forgejo::register(&register)
            .await
            .map_err(|source| RegistrationError::Register { url: url.clone(), source })?;
        tracing::info!(%url, runner = %file.name, path = %path.display(), "registered");
        file
    };
    let declared = connection.labels.clone().unwrap_or_else(|| file.labels.clone());
    let labels = forgejo::labels::label_names(&declared)
        .map_err(|source| RegistrationError::Labels { url: url.clone(), source })?;
    let config = RunConfig {
        runner_file: path.clone(),
        labels: connection.labels.clone(),
        capacity: connection.capacity,
        fetch: FetchConfig { interval: connection.fetch_interval, ..FetchConfig::default() },
        shutdown_timeout,
    };
    Ok(Registered { url, config, labels })
}
