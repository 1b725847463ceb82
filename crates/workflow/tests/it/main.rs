//! The workflow crate's one integration test binary.

mod conformance;
mod expand;
mod inputs;
mod kdl;
mod matrix;
mod needs;
mod no_panic;
mod policy;
mod single_job;
mod translate;

use std::collections::BTreeMap;

use contract::{BusKey, ForgeKind, JobRequest, Origin, SecretString, Workspace};
use workflow::{ExpandInput, Workflow, WorkflowError};

/// The catalog the tests route against.
pub fn catalog(label: &str) -> bool {
    matches!(label, "linux-test" | "omnios-r151054" | "freebsd-14" | "debian-12")
}

/// Parses `source` as `.github/workflows/ci.yml`, panicking with the diagnostics on failure.
pub fn parse_ok(source: &str) -> Workflow {
    match workflow::parse(source, ".github/workflows/ci.yml") {
        Ok(w) => w,
        Err(e) => panic!("expected the workflow to parse, got:\n{e}\n--- source:\n{source}"),
    }
}

/// Parses `source`, expecting rejection; returns the rendered diagnostics.
pub fn parse_err(source: &str) -> String {
    match workflow::parse(source, ".github/workflows/ci.yml") {
        Ok(_) => panic!("expected the workflow to be rejected:\n{source}"),
        Err(e) => e.to_string(),
    }
}

pub struct Fixture {
    pub key: BusKey,
    pub secrets: BTreeMap<String, SecretString>,
    pub needs: serde_json::Value,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Self {
        let key = BusKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("test key is valid");
        Fixture { key, secrets: BTreeMap::new(), needs: serde_json::json!({}) }
    }

    pub fn input(&self) -> ExpandInput<'_> {
        ExpandInput {
            origin: Origin { forge: ForgeKind::Local, runner_id: "test".into(), forge_ref: serde_json::Value::Null },
            github: serde_json::json!({"event_name": "push", "ref": "refs/heads/main", "repository": "o/r"}),
            vars: serde_json::json!({"OS": "omnios-r151054"}),
            inputs: serde_json::json!({}),
            needs: self.needs.clone(),
            secrets: &self.secrets,
            key: &self.key,
            is_catalog_label: &catalog,
            workspace: Workspace::default(),
        }
    }

    pub fn expand(&self, workflow: &Workflow, job: &str) -> Result<Vec<JobRequest>, WorkflowError> {
        workflow::expand_job(workflow, job, &self.input())
    }
}

/// Expands every job of a YAML workflow.
pub fn expand_all(source: &str) -> Vec<JobRequest> {
    let workflow = parse_ok(source);
    let fixture = Fixture::new();
    let mut out = Vec::new();
    for key in workflow.job_keys() {
        match fixture.expand(&workflow, &key) {
            Ok(requests) => out.extend(requests),
            Err(e) => panic!("expand {key}: {e}"),
        }
    }
    out
}
