//! JobRequests made the way a forge runner makes them: a one-job workflow translated by the
//! `workflow` crate.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use contract::{BusKey, ForgeKind, JobRequest, Origin, Workspace};
use ulid::Ulid;

/// The request of a job on `label` whose steps are `steps` (YAML list items, indented by six);
/// its origin is a runner named `bench-runner-<ulid>`.
pub fn one_job(label: &str, steps: &str, key: &BusKey) -> Result<JobRequest> {
    let source = format!("on: push\njobs:\n  t:\n    runs-on: {label}\n    steps:\n{steps}");
    let workflow = workflow::parse(&source, "bench.yml").map_err(|error| anyhow::anyhow!("{error}"))?;
    let origin = Origin {
        forge: ForgeKind::Local,
        runner_id: format!("bench-runner-{}", Ulid::new().to_string().to_lowercase()),
        forge_ref: serde_json::Value::Null,
    };
    let secrets = BTreeMap::new();
    let any_label = |_: &str| true;
    let input = workflow::ExpandInput {
        origin,
        github: serde_json::json!({}),
        vars: serde_json::json!({}),
        inputs: serde_json::json!({}),
        needs: serde_json::json!({}),
        secrets: &secrets,
        key,
        is_catalog_label: &any_label,
        workspace: Workspace::default(),
    };
    let mut requests = workflow::expand_job(&workflow, "t", &input).map_err(|error| anyhow::anyhow!("{error}"))?;
    requests.pop().context("the workflow made no job")
}
