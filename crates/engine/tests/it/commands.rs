//! Workflow commands printed by steps.

use contract::{AnnotationLevel, Outcome};

use crate::harness::{request, run, run_job, run_job_with, secrets};

#[tokio::test]
async fn groups_and_annotations_become_github_log_lines() {
    let script = "echo '::group::Build it'\n\
                  echo inside\n\
                  echo '::endgroup::'\n\
                  echo '::error file=src/a.rs,line=3,endLine=4,col=5,endColumn=9,title=Bad%3A thing::broken%0Asecond line'\n\
                  echo '::warning::careful %25'\n\
                  echo '::notice title=FYI::note'\n\
                  echo '  ::notice::indented'\n\
                  echo '::unknown-command::stays'\n\
                  echo 'not ::a:: command'";
    let job = run_job(request(vec![run(0, script)])).await;
    assert_eq!(
        job.output(0),
        [
            "##[group]Build it",
            "inside",
            "##[endgroup]",
            "##[error]broken",
            "second line",
            "##[warning]careful %",
            "##[notice]note",
            "##[notice]indented",
            "::unknown-command::stays",
            "not ::a:: command",
        ]
    );
    assert_eq!(job.outcome(0), Outcome::Success, "an ::error:: command does not fail the step");
    let annotations = job.annotations();
    assert_eq!(annotations.len(), 4);
    let error = &annotations[0];
    assert_eq!(error.level, AnnotationLevel::Error);
    assert_eq!(error.message, "broken\nsecond line");
    assert_eq!(error.file.as_deref(), Some("src/a.rs"));
    assert_eq!((error.line, error.end_line, error.col, error.end_column), (Some(3), Some(4), Some(5), Some(9)));
    assert_eq!(error.title.as_deref(), Some("Bad: thing"));
    assert_eq!(error.step, Some(0));
    assert_eq!(annotations[1].level, AnnotationLevel::Warning);
    assert_eq!(annotations[2].title.as_deref(), Some("FYI"));
}

#[tokio::test]
async fn stop_commands_suspends_processing_until_the_token() {
    let script = "echo '::stop-commands::pause123'\n\
                  echo '::error::not an error'\n\
                  echo '::pause123::'\n\
                  echo '::warning::processed again'";
    let job = run_job(request(vec![run(0, script)])).await;
    assert_eq!(job.output(0), ["::error::not an error", "##[warning]processed again"]);
    assert_eq!(job.annotations().len(), 1);
}

#[tokio::test]
async fn debug_lines_show_only_with_step_debug() {
    let step = || run(0, "echo '::debug::details'\necho after");
    let job = run_job(request(vec![step()])).await;
    assert_eq!(job.output(0), ["after"]);
    let job = run_job_with(request(vec![step()]), secrets(&[("ACTIONS_STEP_DEBUG", "true")]), |_| {}).await;
    assert_eq!(job.output(0), ["##[debug]details", "after"]);
    let mut with_var = request(vec![step()]);
    with_var.contexts.vars = serde_json::json!({"ACTIONS_STEP_DEBUG": "TRUE"});
    let job = run_job(with_var).await;
    assert_eq!(job.output(0), ["##[debug]details", "after"]);
}

#[tokio::test]
async fn deprecated_commands_are_refused_and_fail_the_step() {
    for command in ["set-output name=x::1", "set-env name=X::1", "add-path::/tmp", "save-state name=s::1"] {
        let mut next = run(1, "echo \"X=${X-unset}\"");
        next.if_ = Some(contract::Template::expr("always()"));
        let job = run_job(request(vec![run(0, &format!("echo '::{command}'")), next])).await;
        let name = command.split([' ', ':']).next().unwrap_or_default();
        assert_eq!(job.outcome(0), Outcome::Failure, "{command}");
        let output = job.output(0);
        assert_eq!(output.len(), 1, "{output:?}");
        assert!(output[0].starts_with(&format!("##[error]The `{name}` command is disabled.")), "{output:?}");
        assert!(job.step(0).2.is_empty(), "no output was set");
        assert_eq!(job.output(1), ["X=unset"]);
    }
}

#[tokio::test]
async fn echo_on_shows_commands() {
    let job = run_job(request(vec![run(0, "echo '::echo::on'\necho '::add-mask::hidden'\necho hidden")])).await;
    assert_eq!(job.output(0), ["::add-mask::***", "***"]);
}

#[tokio::test]
async fn annotation_files_are_relative_to_the_repository() {
    let job = run_job(request(vec![run(0, "echo \"::warning file=$GITHUB_WORKSPACE/src/lib.rs,line=1::w\"")])).await;
    assert_eq!(job.annotations()[0].file.as_deref(), Some("src/lib.rs"));
}
