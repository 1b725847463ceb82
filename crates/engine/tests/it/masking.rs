//! Secrets never leave the engine in clear.

use contract::{Section, Template};

use crate::harness::{request, run, run_job_with, secrets};

#[tokio::test]
async fn secrets_are_masked_everywhere() {
    let mut step = run(0, "");
    step.run = Some(Template::expr(
        "format('echo {0}; echo \"::warning title={0}::{0}\"; echo out={0} >> $GITHUB_OUTPUT; echo \"{0}\" >> $GITHUB_STEP_SUMMARY; echo \"{1}\"', secrets.TOKEN, secrets.MULTI)",
    ));
    step.name = Some(Template::expr("format('Deploy with {0}', secrets.TOKEN)"));
    let mut job_request = request(vec![step]);
    job_request.outputs.insert("leak".into(), Template::expr("steps.s0.outputs.out"));
    let job =
        run_job_with(job_request, secrets(&[("TOKEN", "s3cr3t-value"), ("MULTI", "first-line\nsecond-line")]), |_| {})
            .await;
    let text = job.all_text();
    for clear in ["s3cr3t-value", "first-line", "second-line"] {
        assert!(!text.contains(clear), "{clear} leaked: {text}");
    }
    assert_eq!(job.started_name(0).as_deref(), Some("Deploy with ***"));
    assert_eq!(job.output(0), ["***", "##[warning]***", "***", "***"]);
    assert_eq!(job.step(0).2.get("out").map(String::as_str), Some("***"));
    assert_eq!(job.report.outputs.get("leak"), None, "an output holding a secret is redacted, as on GitHub");
    let complete = job.lines(Section::Complete);
    assert!(
        complete.contains(&"##[warning]Skip output 'leak' since it may contain secret.".to_owned()),
        "{complete:?}"
    );
    assert_eq!(job.summaries()[0].1, "***\n");
    assert_eq!(job.annotations()[0].title.as_deref(), Some("***"));
}

#[tokio::test]
async fn add_mask_hides_later_output() {
    let script = "echo before-value\necho '::add-mask::dynamic-value'\necho dynamic-value here\necho 'v=dynamic-value' >> $GITHUB_OUTPUT";
    let job = run_job_with(request(vec![run(0, script), run(1, "echo dynamic-value")]), secrets(&[]), |_| {}).await;
    assert_eq!(job.output(0), ["before-value", "*** here"]);
    assert_eq!(job.output(1), ["***"]);
    assert_eq!(job.step(0).2.get("v").map(String::as_str), Some("***"));
    let header = job.lines(Section::Step(1));
    assert_eq!(header[0], "##[group]Run echo ***");
}

#[tokio::test]
async fn the_github_token_is_masked() {
    let mut job_request = request(vec![run(0, "")]);
    job_request.steps[0].run = Some(Template::expr("format('echo {0}', github.token)"));
    job_request.contexts.github = serde_json::json!({"token": "ghs_forge_token"});
    let job = run_job_with(job_request, secrets(&[]), |_| {}).await;
    assert_eq!(job.output(0), ["***"]);
}
