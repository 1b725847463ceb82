//! The Results service (ref §5.1, §5.3, §5.4): step states, step and job logs through signed
//! blob URLs, step summaries. On github.com this is the only way steps and logs reach the run
//! page (the runner is in results-only mode, ref §5.1).

mod blob;

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::http::{self, HttpError};
use crate::job::timestamp;

/// A step's numeric status in `WorkflowStepsUpdate` (ref §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum StepStatus {
    Pending,
    InProgress,
    Completed,
}

impl StepStatus {
    fn number(self) -> u8 {
        match self {
            StepStatus::InProgress => 3,
            StepStatus::Pending => 5,
            StepStatus::Completed => 6,
        }
    }
}

/// A step's numeric conclusion (ref §5.3): 2 success, 3 failure, 4 cancelled, 7 skipped.
fn conclusion_number(conclusion: Option<crate::job::Conclusion>) -> u8 {
    use crate::job::Conclusion;
    match conclusion {
        None => 0,
        Some(Conclusion::Succeeded) => 2,
        Some(Conclusion::Failed) => 3,
        Some(Conclusion::Canceled) => 4,
        Some(Conclusion::Skipped) => 7,
    }
}

/// One step of a `WorkflowStepsUpdate`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepUpdate {
    pub external_id: String,
    pub number: u32,
    pub name: String,
    pub status: StepStatus,
    pub conclusion: Option<crate::job::Conclusion>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// How often and how patiently a Results call is retried.
#[derive(Debug, Clone)]
pub struct ResultsConfig {
    /// Tries of one call (the first included).
    pub tries: u32,
    /// The wait after the first failure, doubled each time up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ResultsConfig {
    fn default() -> Self {
        ResultsConfig { tries: 5, first_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(16) }
    }
}

/// A Results call that failed for good.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("call Results {what}")]
    Call {
        what: &'static str,
        #[source]
        source: HttpError,
    },
    #[error("call Results {what}: it answered ok:false")]
    NotOk { what: &'static str },
    #[error("call Results {what}: the answer has no signed URL")]
    NoUrl { what: &'static str },
}

impl ResultsError {
    /// Worth another try: no answer, a 5xx, 429 or 408.
    pub fn is_transient(&self) -> bool {
        match self {
            ResultsError::Call { source, .. } => source.is_transient(),
            ResultsError::NotOk { .. } | ResultsError::NoUrl { .. } => false,
        }
    }
}

/// The Results client of one job: its base URL and job token.
#[derive(Clone)]
pub struct Results {
    http: reqwest::Client,
    base: String,
    token: String,
    config: ResultsConfig,
}

/// What a log or summary belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a> {
    pub plan_id: &'a str,
    pub job_id: &'a str,
}

const STEPS_SERVICE: &str = "github.actions.results.api.v1.WorkflowStepUpdateService";
const RECEIVER: &str = "results.services.receiver.Receiver";

/// The client's limit on a step summary (ref §5.4).
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

impl Results {
    pub fn new(http: reqwest::Client, results_url: &str, job_token: &str) -> Results {
        Results { http, base: results_url.to_owned(), token: job_token.to_owned(), config: ResultsConfig::default() }
    }

    /// The same client with other retry timings (tests use milliseconds).
    pub fn with_config(mut self, config: ResultsConfig) -> Results {
        self.config = config;
        self
    }

    /// `WorkflowStepsUpdate` (ref §5.3): only the steps given change.
    pub async fn steps_update(
        &self,
        steps: &[StepUpdate],
        change_order: u64,
        ids: Ids<'_>,
    ) -> Result<(), ResultsError> {
        let steps: Vec<Value> = steps
            .iter()
            .map(|step| {
                let mut body = json!({
                    "external_id": step.external_id, "number": step.number, "name": step.name,
                    "status": step.status.number(), "conclusion": conclusion_number(step.conclusion),
                });
                if let Some(at) = &step.started_at {
                    body["started_at"] = at.clone().into();
                }
                if let Some(at) = &step.completed_at {
                    body["completed_at"] = at.clone().into();
                }
                body
            })
            .collect();
        let body = json!({
            "steps": steps, "change_order": change_order,
            "workflow_job_run_backend_id": ids.job_id, "workflow_run_backend_id": ids.plan_id,
        });
        self.retry("WorkflowStepsUpdate", || self.twirp(STEPS_SERVICE, "WorkflowStepsUpdate", &body, false)).await?;
        Ok(())
    }

    /// Uploads a step's log (`data`: timestamped lines) and registers it with its line count.
    pub async fn upload_step_log(
        &self,
        ids: Ids<'_>,
        step_id: &str,
        data: &[u8],
        lines: u64,
    ) -> Result<(), ResultsError> {
        let mut body = ids_body(ids);
        body["step_backend_id"] = step_id.into();
        self.retry("step log", || {
            self.upload_log(&body, "GetStepLogsSignedBlobURL", "CreateStepLogsMetadata", data, lines)
        })
        .await
    }

    /// Uploads the job's whole log and registers it.
    pub async fn upload_job_log(&self, ids: Ids<'_>, data: &[u8], lines: u64) -> Result<(), ResultsError> {
        let body = ids_body(ids);
        self.retry("job log", || {
            self.upload_log(&body, "GetJobLogsSignedBlobURL", "CreateJobLogsMetadata", data, lines)
        })
        .await
    }

    /// Uploads a step summary (the caller keeps it within [`SUMMARY_LIMIT`]).
    pub async fn upload_step_summary(&self, ids: Ids<'_>, step_id: &str, markdown: &str) -> Result<(), ResultsError> {
        let mut body = ids_body(ids);
        body["step_backend_id"] = step_id.into();
        self.retry("step summary", || async {
            let signed = self.twirp(RECEIVER, "GetStepSummarySignedBlobURL", &body, false).await?;
            let url = signed_url(&signed, "summary_url", "GetStepSummarySignedBlobURL")?;
            blob::put_block(&self.http, &url, azure(&signed), markdown.as_bytes())
                .await
                .map_err(|source| ResultsError::Call { what: "step summary upload", source })?;
            let mut metadata = body.clone();
            metadata["size"] = markdown.len().into();
            metadata["uploaded_at"] = timestamp(time::OffsetDateTime::now_utc()).into();
            self.twirp(RECEIVER, "CreateStepSummaryMetadata", &metadata, true).await?;
            Ok(())
        })
        .await
    }

    async fn upload_log(
        &self,
        body: &Value,
        get_url: &'static str,
        metadata: &'static str,
        data: &[u8],
        lines: u64,
    ) -> Result<(), ResultsError> {
        let signed = self.twirp(RECEIVER, get_url, body, false).await?;
        let url = signed_url(&signed, "logs_url", get_url)?;
        blob::put(&self.http, &url, azure(&signed), data)
            .await
            .map_err(|source| ResultsError::Call { what: "log upload", source })?;
        let mut body = body.clone();
        body["uploaded_at"] = timestamp(time::OffsetDateTime::now_utc()).into();
        body["line_count"] = lines.into();
        self.twirp(RECEIVER, metadata, &body, true).await?;
        Ok(())
    }

    /// One twirp call; `want_ok` for the metadata calls, whose `{"ok": false}` is an error.
    async fn twirp(
        &self,
        service: &str,
        method: &'static str,
        body: &Value,
        want_ok: bool,
    ) -> Result<Value, ResultsError> {
        let url = http::join(&self.base, &format!("twirp/{service}/{method}"));
        let request = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .json(body)
            .timeout(http::CALL_TIMEOUT);
        let answer: Value = http::send_json("POST", &url, request)
            .await
            .map_err(|source| ResultsError::Call { what: method, source })?;
        if want_ok && answer.get("ok").and_then(Value::as_bool) != Some(true) {
            return Err(ResultsError::NotOk { what: method });
        }
        Ok(answer)
    }

    /// Runs `op` until it succeeds, fails for good, or the tries are spent; waits 1 s, 2 s, 4 s…
    /// up to 16 s between transient failures.
    async fn retry<T, F, Fut>(&self, what: &'static str, mut op: F) -> Result<T, ResultsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResultsError>>,
    {
        let mut wait = self.config.first_backoff;
        let mut tried = 1;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() && tried < self.config.tries.max(1) => {
                    tracing::debug!(what, error = %crate::error_chain(&error), "Results failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.config.max_backoff);
                    tried += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

fn ids_body(ids: Ids<'_>) -> Value {
    json!({"workflow_job_run_backend_id": ids.job_id, "workflow_run_backend_id": ids.plan_id})
}

fn signed_url(answer: &Value, field: &str, what: &'static str) -> Result<String, ResultsError> {
    answer
        .get(field)
        .and_then(Value::as_str)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .ok_or(ResultsError::NoUrl { what })
}

/// The `x-ms-*` headers are sent only to Azure blob storage (ref §5.4).
fn azure(answer: &Value) -> bool {
    answer.get("blob_storage_type").and_then(Value::as_str) == Some("BLOB_STORAGE_TYPE_AZURE")
}
