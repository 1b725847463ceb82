//! The validated workflow: what `parse` returns and `expand_job` reads.

use std::collections::BTreeMap;

use contract::{StepCommand, Template};
use indexmap::IndexMap;

use crate::inputs::InputSpec;
use crate::node::{Node, Pos};

/// Which acceptance rules `parse_with` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Solstice's product rules (the default): besides GitHub's syntax, only
    /// `uses: actions/checkout@<ref>` steps, no job `container:`/`services:`, no reusable
    /// workflow jobs, and every job has `steps`.
    #[default]
    Solstice,
    /// GitHub's own acceptance rules only, for conformance tests and linting. Jobs that break a
    /// product rule still parse, and `expand_job` refuses them with the same diagnostics.
    GitHub,
}

/// Options for [`crate::parse_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    pub mode: Mode,
}

/// A workflow file that passed validation.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub(crate) file: String,
    pub(crate) name: Option<String>,
    pub(crate) env: BTreeMap<String, Template>,
    pub(crate) defaults: Defaults,
    pub(crate) jobs: IndexMap<String, Job>,
    /// Job keys, each after its `needs`.
    pub(crate) order: Vec<String>,
    /// `on.<event>.inputs` of each declared event that takes inputs.
    pub(crate) input_definitions: IndexMap<String, Vec<InputSpec>>,
}

/// `defaults.run` of one level.
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    /// Workflow level: plain text. Job level: may hold an expression over routing contexts.
    pub shell: Option<Node>,
    pub working_directory: Option<Template>,
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub key: String,
    pub pos: Pos,
    pub needs: Vec<String>,
    pub if_: Option<Template>,
    /// `name:`, evaluated per matrix combination for the display name.
    pub name: Option<Node>,
    pub runs_on: Option<Node>,
    pub strategy: Option<Node>,
    pub env: BTreeMap<String, Template>,
    pub defaults: Defaults,
    pub timeout_minutes: Option<Template>,
    pub continue_on_error: Option<Template>,
    pub outputs: BTreeMap<String, Template>,
    pub steps: Vec<StepCommand>,
    /// Product rules this job breaks (only kept in `Mode::GitHub`; `expand_job` reports them).
    pub unsupported: Vec<(Pos, String)>,
}

impl Workflow {
    /// `name:`, or the file path as given, the way GitHub shows a workflow without a name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.file)
    }

    /// The file name the workflow was parsed from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Every job key, each after the jobs it `needs` (file order otherwise).
    pub fn job_keys(&self) -> Vec<String> {
        self.order.clone()
    }

    /// The `needs` of a job; empty for an unknown key.
    pub fn needs(&self, job_key: &str) -> &[String] {
        self.jobs.get(job_key).map_or(&[], |j| j.needs.as_slice())
    }

    /// True when the job has a `strategy` whose matrix may depend on `needs` outputs.
    pub fn has_matrix(&self, job_key: &str) -> bool {
        self.jobs.get(job_key).and_then(|j| j.strategy.as_ref()).is_some_and(|s| s.get("matrix").is_some())
    }
}
