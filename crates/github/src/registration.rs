//! `configure` and `remove`, like the official `config.sh` (ref §1): a registration token is
//! exchanged at runner-registration (ref §1.1), which says whether to take the runner-admin flow
//! (ref §1.3, `admin`) or the legacy pools/agents flow (ref §1.4, `legacy`); each runner gets its
//! own key and its own directory `<state dir>/github/<name>/` holding the official files
//! ([`crate::files`]).

mod admin;
mod api;
mod configure;
mod legacy;
mod remove;

use std::path::{Path, PathBuf};

use crate::files::FilesError;
use crate::http::HttpError;
use crate::key::{KeyError, RunnerKey};
pub use configure::configure;
pub use remove::{forget, remove};

/// What `configure` is asked to do (the flags of `github-runner configure`).
#[derive(Clone, Default)]
pub struct ConfigureOptions {
    /// The repository, organisation or enterprise URL (`--url`).
    pub url: String,
    /// The registration token (`--token`). Never printed.
    pub token: String,
    /// The runner name (`--name`); with `count` > 1 the runners are `NAME-1` … `NAME-N`.
    pub name: String,
    /// User labels (`--labels`), beside the system labels `self-hosted`, OS and arch.
    pub labels: Vec<String>,
    /// The runner group by name (`--runnergroup`); else the default non-hosted group.
    pub runner_group: Option<String>,
    /// Replace a runner of the same name, on GitHub and on disk (`--replace`).
    pub replace: bool,
    /// One job per runner, then GitHub deletes it (`--ephemeral`).
    pub ephemeral: bool,
    /// How many runners to register (`--count`, at least 1).
    pub count: u32,
    /// Where `github/<name>/` directories go (SOLSTICE_STATE_DIR, else the working directory).
    pub state_dir: PathBuf,
    /// The REST API base override (SOLSTICE_GITHUB_API_URL), for tests and unusual setups.
    pub api_url: Option<String>,
}

impl std::fmt::Debug for ConfigureOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigureOptions")
            .field("url", &self.url)
            .field("token", &"***")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .field("runner_group", &self.runner_group)
            .field("replace", &self.replace)
            .field("ephemeral", &self.ephemeral)
            .field("count", &self.count)
            .field("state_dir", &self.state_dir)
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// What [`remove`] did on GitHub's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// The runner was deleted on GitHub, then its local files.
    Deleted,
    /// GitHub no longer knew the runner; only its local files were deleted.
    AlreadyGone,
    /// The registration names no GitHub URL (a JIT config), so only its local files were deleted.
    LocalOnly,
}

/// Why configure or remove failed. [`RegistrationError::exit_code`] maps it to brief §3.7.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("configure: {0}")]
    Usage(String),
    #[error("use {url} as a GitHub URL: {reason}")]
    Url { url: String, reason: String },
    #[error("register {name}: {dir} already holds a registration; pass --replace to replace it")]
    AlreadyConfigured { name: String, dir: PathBuf },
    /// ref §1.1: runner-registration answered 404 to the registration (or remove) token.
    #[error("use the {kind} token: the {kind} token is invalid or expired (404 from {url})")]
    TokenInvalid { kind: &'static str, url: String },
    #[error("{step}: GitHub could not be reached")]
    Unreachable {
        step: &'static str,
        #[source]
        source: Box<HttpError>,
    },
    #[error("{step}")]
    Api {
        step: &'static str,
        #[source]
        source: Box<HttpError>,
    },
    #[error("{step}: {reason}")]
    Answer { step: &'static str, reason: String },
    #[error("register {name}: a runner with that name exists already; pass --replace to replace it")]
    NameTaken { name: String },
    #[error("find a runner group: {0}")]
    RunnerGroup(String),
    #[error(
        "register through the legacy pipelines flow: the server sent no broker URL (ServerUrlV2), and this runner \
         only listens on the broker; the agent was removed again"
    )]
    NoBroker,
    #[error("generate the runner's key")]
    Key(#[source] KeyError),
    #[error("generate the runner's key: the key generation task did not finish")]
    KeyTask,
    #[error("build the HTTP client")]
    Client(#[source] http_client::SetupError),
    #[error("save the registration in {dir}")]
    Save {
        dir: PathBuf,
        #[source]
        source: Box<FilesError>,
    },
    #[error("read the registration in {dir}")]
    Load {
        dir: PathBuf,
        #[source]
        source: Box<FilesError>,
    },
    #[error("remove {dir}: it holds no registration")]
    NotConfigured { dir: PathBuf },
    #[error("delete the local files in {dir}")]
    Forget {
        dir: PathBuf,
        #[source]
        source: Box<FilesError>,
    },
    /// `--count N` stopped at runner `failed`; the ones in `made` were registered and kept.
    #[error("register {failed}; registered before it and kept: {}", list(made))]
    Partial {
        made: Vec<(String, PathBuf)>,
        failed: String,
        #[source]
        source: Box<RegistrationError>,
    },
}

impl RegistrationError {
    /// The exit code of brief §3.7: 4 for a bad or expired token, 3 when GitHub could not be
    /// reached, 2 for everything the user has to change.
    pub fn exit_code(&self) -> u8 {
        match self {
            RegistrationError::TokenInvalid { .. } => 4,
            RegistrationError::Unreachable { .. } => 3,
            RegistrationError::Partial { source, .. } => source.exit_code(),
            _ => 2,
        }
    }
}

fn list(made: &[(String, PathBuf)]) -> String {
    if made.is_empty() {
        return "none".to_owned();
    }
    made.iter().map(|(name, dir)| format!("{name} ({})", dir.display())).collect::<Vec<_>>().join(", ")
}

/// A runner group (ref §1.3) or agent pool (ref §1.4).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: u64,
    pub name: String,
    pub default: bool,
    pub hosted: bool,
}

/// One runner to register.
pub(crate) struct NewRunner<'a> {
    pub name: &'a str,
    pub labels: &'a [String],
    pub ephemeral: bool,
    pub replace: bool,
    pub key: &'a RunnerKey,
}

/// The directory of the runner `name`: `<state dir>/github/<name>`.
pub fn registration_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("github").join(name)
}

/// The labels every runner carries (ref §1.4 step 2): `self-hosted`, the OS and the
/// architecture, spelled as the official runner spells them (ref §0).
pub fn system_labels() -> Vec<String> {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "X64",
        "x86" => "X86",
        "arm" => "ARM",
        "aarch64" => "ARM64",
        other => other,
    };
    vec!["self-hosted".to_owned(), os.to_owned(), arch.to_owned()]
}

/// The labels in the register body: system labels, then the user's (minus repeats of a system
/// label). The runner-admin flow numbers none of them (`id` 0).
pub(crate) fn labels_json(user: &[String], with_id: bool) -> Vec<serde_json::Value> {
    let system = system_labels();
    let user = user.iter().filter(|label| !system.iter().any(|s| s.eq_ignore_ascii_case(label)));
    let typed = system.iter().map(|name| (name.as_str(), "system")).chain(user.map(|name| (name.as_str(), "user")));
    typed
        .map(|(name, kind)| {
            let mut label = serde_json::json!({"name": name, "type": kind});
            if with_id {
                label["id"] = 0.into();
            }
            label
        })
        .collect()
}

/// `wanted` by name (case-insensitive), else the default group, else the first non-hosted one;
/// a hosted group is never joined.
pub(crate) fn choose_group(groups: &[Group], wanted: Option<&str>) -> Result<Group, RegistrationError> {
    let group = match wanted {
        Some(name) => groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| RegistrationError::RunnerGroup(format!("there is no runner group named {name:?}")))?,
        None => groups
            .iter()
            .find(|g| g.default && !g.hosted)
            .or_else(|| groups.iter().find(|g| !g.hosted))
            .ok_or_else(|| RegistrationError::RunnerGroup("there is no self-hosted runner group".to_owned()))?,
    };
    if group.hosted {
        return Err(RegistrationError::RunnerGroup(format!("{:?} is a GitHub-hosted runner group", group.name)));
    }
    Ok(group.clone())
}

/// The runner names of a `--count N` configure: `NAME` alone, or `NAME-1` … `NAME-N`.
fn names(options: &ConfigureOptions) -> Result<Vec<String>, RegistrationError> {
    let name = options.name.trim();
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(RegistrationError::Usage(format!("{name:?} cannot be a runner name")));
    }
    if let Some(label) = options.labels.iter().find(|label| label.trim().is_empty() || label.contains(',')) {
        return Err(RegistrationError::Usage(format!("{label:?} cannot be a label")));
    }
    Ok(match options.count {
        0 => return Err(RegistrationError::Usage("--count must be at least 1".to_owned())),
        1 => vec![name.to_owned()],
        n => (1..=n).map(|i| format!("{name}-{i}")).collect(),
    })
}

/// The REST API base configure and remove use for `github_url` (see the rules in ref §1.1):
/// `https://api.github.com/` for github.com, `https://api.<host>/` for `*.ghe.com`,
/// `<scheme>://<host>/api/v3/` for GitHub Enterprise Server; `api_override` wins.
pub fn api_base(github_url: &str, api_override: Option<&str>) -> Result<String, RegistrationError> {
    api::Api::new(github_url, api_override).map(|api| api.base)
}
