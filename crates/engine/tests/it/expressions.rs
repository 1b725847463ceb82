//! Templates are evaluated once, at run time, with the contexts GitHub offers.

use contract::{Outcome, Template};

use crate::harness::{request, run, run_expr, run_job, run_job_with, secrets};

#[tokio::test]
async fn evaluated_text_is_never_evaluated_again() {
    let mut job_request = request(vec![run_expr(0, "format('echo ''{0}''', github.event.title)")]);
    job_request.contexts.github = serde_json::json!({"event": {"title": "${{ secrets.X }} and $(id)"}});
    let job = run_job_with(job_request, secrets(&[("X", "never")]), |_| {}).await;
    assert_eq!(job.output(0), ["${{ secrets.X }} and $(id)"]);
}

#[tokio::test]
async fn contexts_a_step_can_read() {
    let expr = "format('echo {0} {1} {2} {3} {4} {5} {6} {7} {8}', github.repository, github.job, runner.os, matrix.n, strategy.job-index, inputs.who, vars.V, job.status, github.workspace == runner.workspace)";
    let mut job_request = request(vec![run_expr(0, expr)]);
    job_request.contexts.matrix = serde_json::json!({"n": 2});
    job_request.contexts.strategy = serde_json::json!({"job-index": 1});
    job_request.contexts.inputs = serde_json::json!({"who": "me"});
    job_request.contexts.vars = serde_json::json!({"V": "var"});
    let job = run_job(job_request).await;
    let os = engine::local_platform().os;
    assert_eq!(job.output(0), [format!("octo/hello build {os} 2 1 me var success false")]);
}

#[tokio::test]
async fn conditions_use_status_functions_like_github() {
    let step = |index: u32, condition: &str| {
        let mut step = run(index, "echo ran");
        step.if_ = Some(Template::expr(condition));
        step
    };
    let job = run_job(request(vec![
        step(0, "true"),
        run(1, "exit 1"),
        step(2, "true"),
        step(3, "failure()"),
        step(4, "always() && steps.s1.outcome == 'failure'"),
        step(5, "success() || failure()"),
        step(6, "cancelled()"),
    ]))
    .await;
    assert_eq!(job.outcome(0), Outcome::Success);
    assert_eq!(job.outcome(2), Outcome::Skipped, "an if without a status function means success() && (…)");
    assert_eq!(job.outcome(3), Outcome::Success);
    assert_eq!(job.outcome(4), Outcome::Success);
    assert_eq!(job.outcome(5), Outcome::Success);
    assert_eq!(job.outcome(6), Outcome::Skipped);
}

#[tokio::test]
async fn hash_files_reads_the_workspace() {
    let script = "mkdir -p a && echo one > a/x.lock && echo two > a/y.lock && echo three > a/z.txt";
    let job = run_job(request(vec![
        run(0, script),
        run_expr(1, "format('echo {0}', hashFiles('a/*.lock'))"),
        run_expr(2, "format('echo [{0}]', hashFiles('nothing/*'))"),
        run_expr(3, "format('echo {0}', hashFiles('**/*.lock', '!a/y.lock') == hashFiles('a/x.lock'))"),
    ]))
    .await;
    let hash = &job.output(1)[0];
    assert_eq!(hash.len(), 64, "{hash}");
    assert_eq!(job.output(2), ["[]"]);
    assert_eq!(job.output(3), ["true"]);
}
