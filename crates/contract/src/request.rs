use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::sealed::OpenSecretsError;
use crate::{BusKey, SCHEMA_VERSION, Sealed, SecretString, Template};

/// One job (one matrix combination) to run, as a forge runner publishes it (brief §3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    pub schema_version: u32,
    pub job_id: Ulid,
    /// 1 for the first run; the forge's re-run counter otherwise.
    pub attempt: u32,
    pub origin: Origin,
    /// The one catalog label picked from `runs-on`; the RabbitMQ routing key.
    pub route_label: String,
    /// Every `runs-on` entry, evaluated (the catalog label and generic labels like `self-hosted`).
    #[serde(default)]
    pub runs_on: Vec<String>,
    /// The job's key under `jobs:` in the workflow file.
    pub job_key: String,
    /// The display name: `name:` evaluated, or the key plus matrix values as GitHub shows them.
    pub name: String,
    /// The workflow's `name:` (or its file path), for logs.
    #[serde(default)]
    pub workflow_name: String,
    /// Job `if:`; `None` means `success()`.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_: Option<Template>,
    #[serde(default)]
    pub env: EnvLayers,
    #[serde(default)]
    pub defaults: RunDefaults,
    /// `timeout-minutes` of the job; `None` means the forge default of 360.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<Template>,
    /// Job-level `continue-on-error` (affects the run's result, not the job's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_on_error: Option<Template>,
    /// Job `outputs:`, evaluated after the last step.
    #[serde(default)]
    pub outputs: BTreeMap<String, Template>,
    #[serde(default)]
    pub contexts: Contexts,
    /// `secrets.<NAME>`, each sealed under the bus key with the job id as AAD.
    #[serde(default)]
    pub secrets: BTreeMap<String, Sealed>,
    #[serde(default)]
    pub workspace: Workspace,
    pub steps: Vec<StepCommand>,
}

impl JobRequest {
    /// Opens every sealed secret with the bus key (standard base64), each bound to this job's
    /// id: what the agent, or the orchestrator for an agentless guest, does with the start
    /// message.
    pub fn open_secrets(&self, bus_key: &SecretString) -> Result<BTreeMap<String, SecretString>, OpenSecretsError> {
        if self.secrets.is_empty() {
            return Ok(BTreeMap::new());
        }
        let key = BusKey::from_base64(bus_key.expose()).map_err(OpenSecretsError::Key)?;
        self.secrets
            .iter()
            .map(|(name, sealed)| {
                key.open(self.job_id, sealed)
                    .map(|value| (name.clone(), value))
                    .map_err(|error| OpenSecretsError::Secret { name: name.clone(), error })
            })
            .collect()
    }

    /// A request with the fields every job needs and everything else empty.
    pub fn new(job_id: Ulid, origin: Origin, route_label: impl Into<String>, job_key: impl Into<String>) -> Self {
        let job_key = job_key.into();
        JobRequest {
            schema_version: SCHEMA_VERSION,
            job_id,
            attempt: 1,
            origin,
            route_label: route_label.into(),
            runs_on: Vec::new(),
            name: job_key.clone(),
            job_key,
            workflow_name: String::new(),
            if_: None,
            env: EnvLayers::default(),
            defaults: RunDefaults::default(),
            timeout_minutes: None,
            continue_on_error: None,
            outputs: BTreeMap::new(),
            contexts: Contexts::default(),
            secrets: BTreeMap::new(),
            workspace: Workspace::default(),
            steps: Vec::new(),
        }
    }
}

/// Where a job came from, so events find their way back to the forge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub forge: ForgeKind,
    /// The runner instance whose event queue gets this job's events.
    pub runner_id: String,
    /// Opaque to everyone but the runner: a Forgejo task id, GitHub plan and job ids.
    #[serde(default)]
    pub forge_ref: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeKind {
    Forgejo,
    Github,
    /// `solstice run`: a workflow file from the local disk.
    Local,
}

/// `env:` at workflow and job level, kept apart because they are evaluated in that order with
/// different contexts available.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvLayers {
    #[serde(default)]
    pub workflow: BTreeMap<String, Template>,
    #[serde(default)]
    pub job: BTreeMap<String, Template>,
}

/// `defaults.run`, already merged (job level over workflow level).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<Template>,
}

/// Contexts the forge resolved before the job started. `env`, `secrets`, `steps`, `job` and
/// `runner` are not here: the step engine builds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contexts {
    #[serde(default)]
    pub github: serde_json::Value,
    #[serde(default)]
    pub vars: serde_json::Value,
    /// `needs.<job>.result` and `needs.<job>.outputs` of the jobs this one needs.
    #[serde(default)]
    pub needs: serde_json::Value,
    #[serde(default)]
    pub matrix: serde_json::Value,
    #[serde(default)]
    pub strategy: serde_json::Value,
    #[serde(default)]
    pub inputs: serde_json::Value,
}

/// What the built-in checkout fetches by default: the commit that triggered the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    #[serde(default)]
    pub repository_url: String,
    /// `owner/name`, as `github.repository` has it.
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub sha: String,
    #[serde(default, rename = "ref")]
    pub git_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Sealed>,
}

/// One step of the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCommand {
    /// 0-based, equal to the forge's step index.
    pub index: u32,
    /// The forge's own step id (GitHub's step GUID), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_ref: Option<String>,
    /// `id:` for `steps.<id>`; generated ids (`__run`, `__run_2`, `__actions_checkout`) start
    /// with two underscores, as GitHub's parser makes them.
    pub id: String,
    /// `name:`; `None` means the display name is derived (`Run <first line>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Template>,
    pub kind: StepKind,
    /// The `uses:` reference as written (`actions/checkout@v4`), for the display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<String>,
    /// `with:` (used by `checkout`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub with: BTreeMap<String, Template>,
    /// The script of a `run` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<Template>,
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
    /// `None` means `success()`.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_on_error: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<Template>,
}

impl StepCommand {
    /// A `run:` step with everything else defaulted.
    pub fn run(index: u32, id: impl Into<String>, script: Template) -> Self {
        StepCommand {
            index,
            forge_ref: None,
            id: id.into(),
            name: None,
            kind: StepKind::Run,
            uses: None,
            with: BTreeMap::new(),
            run: Some(script),
            shell: None,
            working_directory: None,
            env: BTreeMap::new(),
            if_: None,
            continue_on_error: None,
            timeout_minutes: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Run,
    /// `uses: actions/checkout@*`, done by the host and streamed into the guest (brief §4).
    Checkout,
}

/// A checkout step's `with:` after evaluation, as the agent asks the host for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckoutRequest {
    /// Directory under the workspace (`with.path`), empty for the workspace itself.
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_depth: Option<u32>,
}
