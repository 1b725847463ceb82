//! The job as the workflow run page shows it: steps in order with their state and log, the
//! annotations, outputs and the job's conclusion.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::state::{Job, JobPhase, StepRecord};

/// One job's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub phase: JobPhase,
    /// The completejob `conclusion` (ref §4.4), once the job finished.
    pub conclusion: Option<String>,
    /// Steps in `number` order (ref §5.3).
    pub steps: Vec<StepView>,
    /// Job outputs from completejob (ref §4.4).
    pub outputs: BTreeMap<String, String>,
    /// Annotations of every step result and the job (ref §4.4), as sent.
    pub annotations: Vec<Value>,
    /// The job log's lines, timestamps removed, once its metadata arrived (ref §5.4).
    pub log: Option<Vec<String>>,
}

/// One step row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepView {
    pub id: String,
    pub number: i64,
    pub name: String,
    /// `pending`, `in_progress`, `completed` or `unknown` (ref §5.3 numbers 5, 3, 6, 0).
    pub status: &'static str,
    /// `success`, `failure`, `cancelled`, `skipped` or `None` (ref §5.3 numbers 2, 3, 4, 7).
    pub conclusion: Option<&'static str>,
    /// The uploaded log's lines without their timestamp prefix (ref §5.4), once published.
    pub log: Option<Vec<String>>,
    /// The step summary's markdown (ref §5.4), once published.
    pub summary: Option<String>,
    /// The live console's lines in line order (ref §5.2), as they streamed in.
    pub live: Vec<String>,
}

pub(crate) fn job_view(job: &Job) -> JobView {
    let mut steps: Vec<StepView> = job.steps.iter().map(|(id, record)| step_view(id, record)).collect();
    steps.sort_by_key(|s| s.number);
    let completion = job.completion.as_ref();
    let outputs = completion
        .and_then(|c| c.get("outputs"))
        .and_then(Value::as_object)
        .map(|outputs| {
            outputs
                .iter()
                .map(|(name, v)| (name.clone(), v.get("value").and_then(Value::as_str).unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut annotations = Vec::new();
    if let Some(results) = completion.and_then(|c| c.get("stepResults")).and_then(Value::as_array) {
        for result in results {
            if let Some(list) = result.get("annotations").and_then(Value::as_array) {
                annotations.extend(list.iter().cloned());
            }
        }
    }
    if let Some(list) = completion.and_then(|c| c.get("annotations")).and_then(Value::as_array) {
        annotations.extend(list.iter().cloned());
    }
    JobView {
        phase: job.phase.clone(),
        conclusion: completion.and_then(|c| c.get("conclusion")).and_then(Value::as_str).map(str::to_string),
        steps,
        outputs,
        annotations,
        log: job.job_log.as_deref().map(lines),
    }
}

fn step_view(id: &str, record: &StepRecord) -> StepView {
    StepView {
        id: id.to_string(),
        number: record.number,
        name: record.name.clone(),
        status: match record.status {
            3 => "in_progress",
            5 => "pending",
            6 => "completed",
            _ => "unknown",
        },
        conclusion: match record.conclusion {
            2 => Some("success"),
            3 => Some("failure"),
            4 => Some("cancelled"),
            7 => Some("skipped"),
            _ => None,
        },
        log: record.log.as_deref().map(lines),
        summary: record.summary.clone(),
        live: record.live.values().cloned().collect(),
    }
}

/// Log lines as the UI shows them: without the .NET "O" timestamp and its space (ref §5.4).
fn lines(text: &str) -> Vec<String> {
    text.lines().map(|line| strip_timestamp(line).to_string()).collect()
}

fn strip_timestamp(line: &str) -> &str {
    match line.split_once(' ') {
        Some((stamp, rest))
            if stamp.len() >= 20
                && stamp.ends_with('Z')
                && stamp.as_bytes().get(10) == Some(&b'T')
                && stamp[..4].bytes().all(|b| b.is_ascii_digit()) =>
        {
            rest
        }
        _ => line,
    }
}
