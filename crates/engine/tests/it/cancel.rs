//! Cancel, step timeouts and job timeouts: GitHub's signal sequence and what runs afterwards.

use contract::{ControlMessage, Outcome, Template};
use tokio::time::Instant;

use crate::harness::{request, run, run_job, start};

fn with_if(mut step: contract::StepCommand, condition: &str) -> contract::StepCommand {
    step.if_ = Some(Template::expr(condition));
    step
}

#[tokio::test]
async fn cancel_interrupts_the_step_and_runs_only_always_and_cancelled_steps() {
    let trapping = run(0, "trap 'echo got INT; exit 7' INT\necho ready\nwhile true; do sleep 0.05; done");
    let steps = vec![
        trapping,
        run(1, "echo normal"),
        with_if(run(2, "echo failure"), "failure()"),
        with_if(run(3, "echo always"), "always()"),
        with_if(run(4, "echo cancelled"), "cancelled()"),
        with_if(run(5, "echo job status ${{ job.status }}"), "always()"),
    ];
    let mut running = start(request(steps), Default::default(), |_| {});
    running.wait_for_line("ready").await;
    running.send(ControlMessage::Cancel { reason: "user asked".into() }).await;
    let job = running.finish().await;
    assert_eq!(job.result(), Outcome::Cancelled);
    assert_eq!(job.outcome(0), Outcome::Cancelled);
    let output = job.output(0);
    assert_eq!(output, ["ready", "got INT", "##[error]The operation was canceled."]);
    assert_eq!(job.outcome(1), Outcome::Skipped);
    assert_eq!(job.outcome(2), Outcome::Skipped);
    assert_eq!(job.output(3), ["always"]);
    assert_eq!(job.output(4), ["cancelled"]);
    assert_eq!(job.report.error, None);
}

/// GitHub shows a job cancelled before its first step as cancelled, not skipped; the cancel
/// sent at once lands while the job sets up (or, rarely, in its first step: cancelled either way).
#[tokio::test]
async fn a_cancel_before_the_first_step_ends_the_job_cancelled() {
    let running = start(request(vec![run(0, "sleep 30; echo never")]), Default::default(), |_| {});
    running.send(ControlMessage::Cancel { reason: "cancelled at once".into() }).await;
    let job = running.finish().await;
    assert_eq!(job.result(), Outcome::Cancelled);
    assert!(matches!(job.outcome(0), Outcome::Cancelled | Outcome::Skipped), "{:?}", job.outcome(0));
    assert!(!job.output(0).iter().any(|line| line == "never"));
}

#[tokio::test]
async fn a_group_that_ignores_signals_is_killed_after_the_grace_periods() {
    let stubborn = run(0, "trap '' INT TERM\necho ready\nwhile true; do sleep 0.05; done");
    let mut running = start(request(vec![stubborn]), Default::default(), |_| {});
    running.wait_for_line("ready").await;
    let cancelled_at = Instant::now();
    running.send(ControlMessage::Cancel { reason: "stop".into() }).await;
    let job = running.finish().await;
    // interrupt_grace + terminate_grace are 300 ms each in the harness.
    assert!(cancelled_at.elapsed().as_millis() >= 600, "SIGKILL came only after both grace periods");
    assert_eq!(job.outcome(0), Outcome::Cancelled);
    assert_eq!(job.result(), Outcome::Cancelled);
}

#[tokio::test]
async fn a_step_timeout_fails_the_step() {
    let mut slow = run(0, "echo start; sleep 30");
    slow.timeout_minutes = Some(Template::literal(1));
    let job = run_job(request(vec![slow, run(1, "echo next"), with_if(run(2, "echo always"), "always()")])).await;
    assert_eq!(job.result(), Outcome::Failure);
    assert_eq!(job.outcome(0), Outcome::Failure);
    assert_eq!(
        job.output(0),
        ["start", "##[error]The action 'Run echo start; sleep 30' has timed out after 1 minutes."]
    );
    assert_eq!(job.outcome(1), Outcome::Skipped);
    assert_eq!(job.output(2), ["always"]);
}

#[tokio::test]
async fn a_job_timeout_cancels_the_job() {
    let mut job_request =
        request(vec![run(0, "sleep 30"), run(1, "echo no"), with_if(run(2, "echo cleanup"), "always()")]);
    job_request.timeout_minutes = Some(Template::literal(1));
    let job = run_job(job_request).await;
    assert_eq!(job.result(), Outcome::Cancelled);
    assert_eq!(job.outcome(0), Outcome::Cancelled);
    let message = "The job running on runner test-runner has exceeded the maximum execution time of 1 minutes.";
    assert_eq!(job.output(0), [format!("##[error]{message}")]);
    assert_eq!(job.outcome(1), Outcome::Skipped);
    assert_eq!(job.output(2), ["cleanup"]);
    assert_eq!(job.report.error.as_deref(), Some(message));
}

#[tokio::test]
async fn closing_the_control_channel_is_not_a_cancel() {
    let mut running = start(request(vec![run(0, "echo ready; sleep 0.2; echo done")]), Default::default(), |_| {});
    let (closed, _) = tokio::sync::mpsc::channel(1);
    running.control = closed;
    let job = running.finish().await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.output(0), ["ready", "done"]);
}

#[tokio::test]
async fn a_step_that_never_stops_printing_still_times_out() {
    let mut chatty = run(0, "while :; do echo spam; done");
    chatty.timeout_minutes = Some(Template::literal(1));
    let job = run_job(request(vec![chatty])).await;
    assert_eq!(job.outcome(0), Outcome::Failure);
    assert!(job.output(0).last().is_some_and(|l| l.contains("has timed out after 1 minutes")));
}

#[tokio::test]
async fn a_large_last_burst_is_logged_whole() {
    let job = run_job(request(vec![run(0, "seq 1 50000")])).await;
    let output = job.output(0);
    assert_eq!(output.len(), 50_000);
    assert_eq!(output.last().map(String::as_str), Some("50000"));
}
