//! Results (ref §5.3, §5.4): step states, logs through signed blob URLs, summaries, the view.

use fake_github::JobSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::broker::fake;
use crate::registration::http;
use crate::run_service::{Acquired, acquired};

async fn twirp(job: &Acquired, method: &str, body: Value) -> (StatusCode, Value) {
    let service = if method == "WorkflowStepsUpdate" {
        "github.actions.results.api.v1.WorkflowStepUpdateService"
    } else {
        "results.services.receiver.Receiver"
    };
    let answer = http()
        .post(format!("{}twirp/{service}/{method}", job.results))
        .header("Authorization", &job.token)
        .json(&body)
        .send()
        .await
        .expect("twirp call");
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn ids(job: &Acquired) -> Value {
    json!({"workflow_job_run_backend_id": job.message["jobId"], "workflow_run_backend_id": job.message["plan"]["planId"]})
}

async fn steps_update(job: &Acquired, order: i64, steps: Value) -> StatusCode {
    let mut body = ids(job);
    body["change_order"] = order.into();
    body["steps"] = steps;
    twirp(job, "WorkflowStepsUpdate", body).await.0
}

#[tokio::test]
async fn step_states_follow_change_order_and_logs_appear_after_their_metadata() {
    let fake = fake().await;
    let job = acquired(&fake, JobSpec::new("build", &["illumos"], &[("hello", "echo hello")])).await;
    let step = job.message["steps"][0]["id"].as_str().expect("step id").to_string();
    let step_json = |status: i64, conclusion: i64| json!([{"external_id": step, "number": 2, "name": "hello", "status": status, "conclusion": conclusion}]);

    assert_eq!(steps_update(&job, 1, step_json(5, 0)).await, StatusCode::OK);
    assert_eq!(steps_update(&job, 3, step_json(6, 3)).await, StatusCode::OK);
    // A late, older change does not undo the newer one.
    assert_eq!(steps_update(&job, 2, step_json(3, 0)).await, StatusCode::OK);
    assert_eq!(steps_update(&job, 4, step_json(9, 0)).await, StatusCode::BAD_REQUEST);
    let view = fake.view(&job.job).expect("view");
    assert_eq!(view.steps.len(), 1);
    assert_eq!(
        (view.steps[0].name.as_str(), view.steps[0].status, view.steps[0].conclusion),
        ("hello", "completed", Some("failure"))
    );

    // Multi-block upload (ref §5.4): empty AppendBlob, blocks, the last one sealing.
    let mut body = ids(&job);
    body["step_backend_id"] = step.clone().into();
    let (status, signed) = twirp(&job, "GetStepLogsSignedBlobURL", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(signed["blob_storage_type"], "BLOB_STORAGE_TYPE_AZURE");
    let url = signed["logs_url"].as_str().expect("logs url");
    let put = |url: String, body: &'static str, blob_type: Option<&'static str>| {
        let mut request = http().put(url).header("Content-Type", "text/plain").body(body);
        if let Some(kind) = blob_type {
            request = request.header("x-ms-blob-type", kind);
        }
        request.send()
    };
    assert_eq!(put(url.to_string(), "", Some("AppendBlob")).await.expect("create").status(), StatusCode::CREATED);
    let first = "2024-05-01T12:00:00.1234567Z hello\n";
    assert_eq!(put(format!("{url}&comp=appendblock"), first, None).await.expect("block").status(), StatusCode::CREATED);
    let last = "2024-05-01T12:00:00.2234567Z ##[error]Process completed with exit code 1.\n";
    assert_eq!(
        put(format!("{url}&comp=appendblock&seal=true"), last, None).await.expect("block").status(),
        StatusCode::CREATED
    );
    assert_eq!(
        put(format!("{url}&comp=appendblock"), "more", None).await.expect("sealed").status(),
        StatusCode::CONFLICT
    );
    let forged = url.replace("sig=", "sig=x");
    assert_eq!(put(forged, "x", Some("BlockBlob")).await.expect("forged").status(), StatusCode::FORBIDDEN);

    assert_eq!(fake.view(&job.job).expect("view").steps[0].log, None, "a log shows only after its metadata");
    let mut metadata = body.clone();
    metadata["uploaded_at"] = "2024-05-01T12:00:01.000Z".into();
    metadata["line_count"] = 2.into();
    let (status, ok) = twirp(&job, "CreateStepLogsMetadata", metadata).await;
    assert_eq!((status, ok), (StatusCode::OK, json!({"ok": true})));
    let view = fake.view(&job.job).expect("view");
    assert_eq!(
        view.steps[0].log.as_deref(),
        Some(&["hello".to_string(), "##[error]Process completed with exit code 1.".to_string()][..])
    );

    // Step summary: one BlockBlob (ref §5.4).
    let (_, signed) = twirp(&job, "GetStepSummarySignedBlobURL", body.clone()).await;
    let url = signed["summary_url"].as_str().expect("summary url").to_string();
    assert_eq!(put(url, "## Done\n", Some("BlockBlob")).await.expect("summary").status(), StatusCode::CREATED);
    twirp(&job, "CreateStepSummaryMetadata", body).await;
    assert_eq!(fake.view(&job.job).expect("view").steps[0].summary.as_deref(), Some("## Done\n"));
}

#[tokio::test]
async fn results_refuse_a_foreign_token_and_another_jobs_ids() {
    let fake = fake().await;
    let job = acquired(&fake, JobSpec::new("build", &["illumos"], &[("a", "true")])).await;
    let mut body = ids(&job);
    body["workflow_job_run_backend_id"] = "00000000-0000-0000-0000-000000000000".into();
    assert_eq!(twirp(&job, "GetJobLogsSignedBlobURL", body).await.0, StatusCode::NOT_FOUND);
    let stranger = Acquired { token: "Bearer nope".into(), ..job };
    assert_eq!(steps_update(&stranger, 1, json!([])).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn view_shows_conclusion_outputs_and_annotations_from_completejob() {
    let fake = fake().await;
    let job = acquired(&fake, JobSpec::new("build", &["illumos"], &[("a", "true")])).await;
    let url = job.message["resources"]["endpoints"][0]["url"].as_str().expect("url");
    let annotation = json!({"level": "warning", "message": "careful", "path": "src/x.rs", "startLine": 3});
    let completion = json!({
        "planId": job.message["plan"]["planId"], "jobId": job.message["jobId"], "conclusion": "failed",
        "outputs": {"v": {"value": "42", "isSecret": false}},
        "stepResults": [{"external_id": job.message["steps"][0]["id"], "number": 2, "name": "a", "status": "completed", "conclusion": "failed", "annotations": [annotation]}],
    });
    let answer = http()
        .post(format!("{url}completejob"))
        .header("Authorization", &job.token)
        .json(&completion)
        .send()
        .await
        .expect("complete");
    assert_eq!(answer.status(), StatusCode::OK);
    let view = fake.view(&job.job).expect("view");
    assert_eq!(view.conclusion.as_deref(), Some("failed"));
    assert_eq!(view.outputs.get("v").map(String::as_str), Some("42"));
    assert_eq!(view.annotations, vec![annotation]);
}

#[tokio::test]
async fn job_log_uploaded_in_one_block_shows_after_its_metadata() {
    let fake = fake().await;
    let job = acquired(&fake, JobSpec::new("build", &["illumos"], &[("a", "true")])).await;
    let body = ids(&job);
    let (status, _) = twirp(&job, "CreateJobLogsMetadata", body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "metadata before any upload is refused");
    let (_, signed) = twirp(&job, "GetJobLogsSignedBlobURL", body.clone()).await;
    let url = signed["logs_url"].as_str().expect("logs url");
    let log = "2024-05-01T12:00:00.1234567Z ##[group]Run true\n2024-05-01T12:00:00.2234567Z ##[endgroup]\n";
    let put = http()
        .put(url)
        .header("x-ms-blob-type", "BlockBlob")
        .header("Content-Type", "text/plain")
        .body(log)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(fake.view(&job.job).expect("view").log, None);
    let (status, ok) = twirp(&job, "CreateJobLogsMetadata", body).await;
    assert_eq!((status, ok), (StatusCode::OK, json!({"ok": true})));
    let view = fake.view(&job.job).expect("view");
    assert_eq!(view.log, Some(vec!["##[group]Run true".to_string(), "##[endgroup]".to_string()]));
}
