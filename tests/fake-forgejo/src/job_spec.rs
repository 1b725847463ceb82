//! What a test hands the fake to make a job wait for a runner.

use std::collections::BTreeMap;

use crate::status::Status;

/// Where a registration token (and so a runner) belongs; a runner only sees the jobs of its
/// scope (forgejo.md §3.2 step 3, §3.4 step 4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Instance-wide: every repository's jobs.
    Global,
    /// A user or organisation: the jobs of its repositories.
    Owner(String),
    /// One repository, `owner/name`.
    Repo(String),
}

impl Scope {
    /// Whether a job of `repository` (`owner/name`) is visible to a runner of this scope.
    pub fn covers(&self, repository: &str) -> bool {
        match self {
            Scope::Global => true,
            Scope::Owner(owner) => repository.split('/').next() == Some(owner.as_str()),
            Scope::Repo(repo) => repo == repository,
        }
    }
}

/// One job of a run, as the server would have split it out of a workflow (forgejo.md §5).
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// The job's id in the workflow (`jobs.<id>`), the `job` field of the context.
    pub job_id: String,
    /// The single-job workflow YAML sent as `workflow_payload`.
    pub payload_yaml: String,
    /// The job's `runs-on` label names, all of which a runner must carry.
    pub runs_on: Vec<String>,
    /// The display names of the payload's steps, in order; the UI's step names come from here,
    /// never from the runner (§4). See [`step_name`] for how Forgejo derives a missing name.
    pub steps: Vec<String>,
    /// `owner/name` of the repository the run belongs to.
    pub repository: String,
    /// Top-level keys of the `context` Struct replaced or added by the test.
    pub context: BTreeMap<String, serde_json::Value>,
    pub secrets: BTreeMap<String, String>,
    pub vars: BTreeMap<String, String>,
    /// The finished jobs this one needs, by job id.
    pub needs: BTreeMap<String, Need>,
}

/// A finished job another one needs: its outputs and aggregated result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub outputs: BTreeMap<String, String>,
    pub result: Status,
}

impl JobSpec {
    /// A job of repository `solstice/test` with no secrets, vars or needs.
    pub fn new(
        job_id: impl Into<String>,
        payload_yaml: impl Into<String>,
        runs_on: &[&str],
        steps: &[&str],
    ) -> JobSpec {
        JobSpec {
            job_id: job_id.into(),
            payload_yaml: payload_yaml.into(),
            runs_on: runs_on.iter().map(|label| label.to_string()).collect(),
            steps: steps.iter().map(|step| step.to_string()).collect(),
            repository: "solstice/test".to_string(),
            context: BTreeMap::new(),
            secrets: BTreeMap::new(),
            vars: BTreeMap::new(),
            needs: BTreeMap::new(),
        }
    }
}

/// The name Forgejo gives a step record: the step's `name`, else its `uses`, else its `run`, else
/// its `id` (forgejo.md §3.4 step 4). Each argument is the YAML value, or empty when absent.
pub fn step_name(name: &str, uses: &str, run: &str, id: &str) -> String {
    [name, uses, run, id].into_iter().find(|candidate| !candidate.is_empty()).unwrap_or("").to_string()
}

/// A job added to the fake, to look it up or cancel it later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobHandle(pub i64);
