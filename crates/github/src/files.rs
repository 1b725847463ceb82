//! The files of one registration, the same three the official runner writes (ref §1.5), so a
//! registration can move between our runner and theirs: `.runner` (who and where), `.credentials`
//! (the OAuth client) and `.credentials_rsaparams` (the private key). We write camelCase keys;
//! we read any case and take numbers and booleans given as strings, as JIT configs carry them
//! (ref §1.6). Files are mode 0600 in a 0700 directory: the key must stay private.
//!
//! Two keys of ours ride along in `.runner` (the official runner ignores unknown keys): the labels
//! as configured, to route jobs by, and the API base used, to remove the runner again.

mod jit;
mod lenient;
mod write;

use std::path::{Path, PathBuf};

pub use jit::from_jit_config;

use crate::key::{KeyError, RunnerKey};
use lenient::Object;

/// The `.runner` file.
pub const RUNNER_FILE: &str = ".runner";
/// The `.credentials` file.
pub const CREDENTIALS_FILE: &str = ".credentials";
/// The `.credentials_rsaparams` file.
pub const KEY_FILE: &str = ".credentials_rsaparams";

/// Our labels in `.runner`, beside the official keys.
const LABELS_KEY: &str = "solsticeLabels";
/// The API base we registered through, in `.runner`.
const API_URL_KEY: &str = "solsticeApiUrl";

/// What one configured runner needs to run and to be removed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The runner's id on GitHub (`agentId`).
    pub agent_id: u64,
    /// The runner's name (`agentName`).
    pub agent_name: String,
    /// The runner group (`poolId`, `poolName`).
    pub pool_id: u64,
    pub pool_name: Option<String>,
    /// The tenant (pipelines) URL from runner-registration (`serverUrl`, ref §1.1).
    pub server_url: String,
    /// The broker base URL (`serverUrlV2`, ref §3.3), when the server gave one.
    pub broker_url: Option<String>,
    /// Whether the runner listens on the broker (`useV2Flow`, ref §3.1).
    pub use_v2_flow: bool,
    /// Whether it was registered through the runner-admin API (`useRunnerAdminFlow`, ref §1.3),
    /// which decides how it is removed.
    pub use_runner_admin_flow: bool,
    /// The repository, organisation or enterprise URL it was registered for (`gitHubUrl`;
    /// empty for JIT configs).
    pub github_url: String,
    /// `workFolder`, kept for the official runner's sake.
    pub work_folder: String,
    /// One job, then GitHub deletes the runner (ref §1.6).
    pub ephemeral: bool,
    /// `disableUpdate`: we never self-update.
    pub disable_update: bool,
    /// The OAuth client id (`.credentials` `clientId`).
    pub client_id: String,
    /// The token URL broker and run-service tokens come from (ref §1.3: `authorization_url`).
    pub authorization_url: String,
    /// The older token URL when the server named one (`legacy_authorization_url`, ref §1.3);
    /// kept only so the official runner reads our files the way it wrote its own.
    pub legacy_authorization_url: Option<String>,
    /// `requireFipsCryptography`: sign assertions with PS256 (ref §2).
    pub require_fips: bool,
    /// The user labels the runner was configured with (ours; system labels are not included).
    pub labels: Vec<String>,
    /// The REST API base it was registered through (ours), when known.
    pub api_url: Option<String>,
}

/// Why a registration's files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("remove {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse {file} as a JSON object")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("find {field:?} in {file}")]
    Missing { file: String, field: &'static str },
    #[error("read {field:?} in {file}: {value} is not a {expected}")]
    Invalid { file: String, field: &'static str, value: String, expected: &'static str },
    #[error("use the key in {file}")]
    Key {
        file: String,
        #[source]
        source: KeyError,
    },
    #[error("decode the JIT config: {0}")]
    Jit(String),
}

impl Registration {
    /// Whether `dir` holds a registration (its `.runner` file exists).
    pub fn exists(dir: &Path) -> bool {
        dir.join(RUNNER_FILE).exists()
    }

    /// Reads the three files from `dir`.
    pub fn load(dir: &Path) -> Result<(Registration, RunnerKey), FilesError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| FilesError::Read { path, source })
        };
        let (runner, credentials, key) = (read(RUNNER_FILE)?, read(CREDENTIALS_FILE)?, read(KEY_FILE)?);
        parse(&runner, &credentials, &key)
    }

    /// Writes the three files into `dir` (made 0700 if missing), each 0600 and replaced
    /// atomically, the key first so a `.runner` never exists without its key.
    pub fn save(&self, dir: &Path, key: &RunnerKey) -> Result<(), FilesError> {
        write::directory(dir)?;
        write::private_file(&dir.join(KEY_FILE), key.to_rsa_params().as_bytes())?;
        write::private_file(&dir.join(CREDENTIALS_FILE), self.credentials_json().to_string().as_bytes())?;
        write::private_file(&dir.join(RUNNER_FILE), self.runner_json().to_string().as_bytes())
    }

    /// The `.runner` JSON: official keys in camelCase, defaults left out as the official runner
    /// does, plus ours.
    fn runner_json(&self) -> serde_json::Value {
        let mut file = serde_json::json!({
            "agentId": self.agent_id,
            "agentName": self.agent_name,
            "poolId": self.pool_id,
            "serverUrl": self.server_url,
            "gitHubUrl": self.github_url,
            "workFolder": self.work_folder,
        });
        let mut set = |key: &str, value: serde_json::Value| file[key] = value;
        if let Some(name) = &self.pool_name {
            set("poolName", name.clone().into());
        }
        for (key, on) in [
            ("ephemeral", self.ephemeral),
            ("disableUpdate", self.disable_update),
            ("useV2Flow", self.use_v2_flow),
            ("useRunnerAdminFlow", self.use_runner_admin_flow),
        ] {
            if on {
                set(key, true.into());
            }
        }
        if let Some(url) = &self.broker_url {
            set("serverUrlV2", url.clone().into());
        }
        set(LABELS_KEY, self.labels.clone().into());
        if let Some(url) = &self.api_url {
            set(API_URL_KEY, url.clone().into());
        }
        file
    }

    /// The `.credentials` JSON (ref §1.5): `requireFipsCryptography` as the string the .NET
    /// runner writes; with a legacy token URL, the official layout of the migration fields.
    fn credentials_json(&self) -> serde_json::Value {
        let fips = if self.require_fips { "True" } else { "False" };
        let mut data = serde_json::json!({"clientId": self.client_id, "requireFipsCryptography": fips});
        match &self.legacy_authorization_url {
            Some(legacy) => {
                data["authorizationUrl"] = legacy.clone().into();
                data["authorizationUrlV2"] = self.authorization_url.clone().into();
                data["enableAuthMigrationByDefault"] = "true".into();
            }
            None => data["authorizationUrl"] = self.authorization_url.clone().into(),
        }
        serde_json::json!({"scheme": "OAuth", "data": data})
    }
}

/// Deletes a registration's files from `dir`, then `dir` itself if nothing else is left in it.
/// Files already gone are fine: the goal is that none is left.
pub fn delete(dir: &Path) -> Result<(), FilesError> {
    // `.runner` first: without it the directory no longer counts as a registration.
    for name in [RUNNER_FILE, CREDENTIALS_FILE, KEY_FILE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(FilesError::Remove { path, source }),
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        // Something else lives there (or it is gone already): leave it.
        Err(_) => Ok(()),
    }
}

/// The registration in the three files' bytes.
fn parse(runner: &[u8], credentials: &[u8], key: &[u8]) -> Result<(Registration, RunnerKey), FilesError> {
    let runner = Object::parse(RUNNER_FILE, runner)?;
    let credentials = Object::parse(CREDENTIALS_FILE, credentials)?;
    let data = credentials.object("data")?;
    let key =
        RunnerKey::from_rsa_params(key).map_err(|source| FilesError::Key { file: KEY_FILE.to_owned(), source })?;
    // ref §1.3: with a V2 URL beside a legacy one, the V2 one serves broker and run-service calls.
    let (authorization_url, legacy_authorization_url) = match data.opt_string("authorizationUrlV2")? {
        Some(v2) => (v2, Some(data.string("authorizationUrl")?)),
        None => (data.string("authorizationUrl")?, None),
    };
    let labels = runner.opt_strings(LABELS_KEY)?.unwrap_or_default();
    let registration = Registration {
        agent_id: runner.u64("agentId")?,
        agent_name: runner.string("agentName")?,
        pool_id: runner.opt_u64("poolId")?.unwrap_or(0),
        pool_name: runner.opt_string("poolName")?,
        server_url: runner.opt_string("serverUrl")?.unwrap_or_default(),
        broker_url: runner.opt_string("serverUrlV2")?.filter(|url| !url.is_empty()),
        use_v2_flow: runner.opt_bool("useV2Flow")?.unwrap_or(false),
        use_runner_admin_flow: runner.opt_bool("useRunnerAdminFlow")?.unwrap_or(false),
        github_url: runner.opt_string("gitHubUrl")?.unwrap_or_default(),
        work_folder: runner.opt_string("workFolder")?.unwrap_or_else(|| "_work".to_owned()),
        ephemeral: runner.opt_bool("ephemeral")?.unwrap_or(false),
        disable_update: runner.opt_bool("disableUpdate")?.unwrap_or(false),
        client_id: data.string("clientId")?,
        authorization_url,
        legacy_authorization_url,
        // ref §1.5: True unless the file says otherwise (the official default since v2.324.0).
        require_fips: data.opt_bool("requireFipsCryptography")?.unwrap_or(true),
        labels,
        api_url: runner.opt_string(API_URL_KEY)?,
    };
    Ok((registration, key))
}
