//! Everything the run knows before a job starts, and how one job becomes its JobRequests:
//! `workflow::expand_job`, then `--matrix` and `--env` applied.

use std::collections::BTreeMap;

use contract::{BusKey, ForgeKind, JobRequest, Origin, SecretString, Template, Workspace};
use serde_json::Value as Json;
use workflow::{ExpandInput, Workflow, WorkflowError};

/// The runner id `solstice run`'s events are published for.
pub(crate) const RUNNER_ID: &str = "local";

pub(crate) struct Plan {
    pub workflow: Workflow,
    pub github: Json,
    pub vars: Json,
    pub inputs: Json,
    pub secrets: BTreeMap<String, SecretString>,
    pub key: BusKey,
    pub workspace: Workspace,
    /// `--env`: added to the workflow-level env layer, over the file's values.
    pub env: Vec<(String, String)>,
    /// `--matrix`.
    pub matrix_filter: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExpandError {
    #[error(transparent)]
    Workflow(WorkflowError),
    #[error("{file}: job '{job}': no matrix combination matches {filter}")]
    NoMatrixMatch { file: String, job: String, filter: String },
}

impl Plan {
    pub fn expand(&self, job_key: &str, needs: Json) -> Result<Vec<JobRequest>, ExpandError> {
        let origin = Origin { forge: ForgeKind::Local, runner_id: RUNNER_ID.to_owned(), forge_ref: Json::Null };
        // The local executor runs any label; `workflow` still leaves generic labels out.
        let any_label = |_: &str| true;
        let input = ExpandInput {
            origin,
            github: self.github.clone(),
            vars: self.vars.clone(),
            inputs: self.inputs.clone(),
            needs,
            secrets: &self.secrets,
            key: &self.key,
            is_catalog_label: &any_label,
            workspace: self.workspace.clone(),
        };
        let mut requests = workflow::expand_job(&self.workflow, job_key, &input).map_err(ExpandError::Workflow)?;
        self.filter_matrix(job_key, &mut requests)?;
        for request in &mut requests {
            for (name, value) in &self.env {
                request.env.workflow.insert(name.clone(), Template::Literal(Json::String(value.clone())));
            }
        }
        Ok(requests)
    }

    /// Keeps the combinations whose `matrix.K` is V for every `--matrix K=V` whose key this job's
    /// matrix has; a job whose matrix has none of the keys runs whole.
    fn filter_matrix(&self, job_key: &str, requests: &mut Vec<JobRequest>) -> Result<(), ExpandError> {
        let relevant: Vec<&(String, String)> = self
            .matrix_filter
            .iter()
            .filter(|(key, _)| requests.iter().any(|r| r.contexts.matrix.get(key).is_some()))
            .collect();
        if relevant.is_empty() {
            return Ok(());
        }
        requests.retain(|request| {
            relevant.iter().all(|(key, wanted)| {
                request.contexts.matrix.get(key).is_some_and(|v| expr::Value::from(v).to_coerced_string() == *wanted)
            })
        });
        if requests.is_empty() {
            let filter = relevant.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            return Err(ExpandError::NoMatrixMatch {
                file: self.workflow.file().to_owned(),
                job: job_key.to_owned(),
                filter,
            });
        }
        Ok(())
    }

    /// Whether any combination of any of `requests` has matrix key `key`.
    pub fn has_matrix_key(requests: &[JobRequest], key: &str) -> bool {
        requests.iter().any(|r| r.contexts.matrix.get(key).is_some())
    }
}
