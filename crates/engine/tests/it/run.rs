//! `run:` steps: output, exit codes, shells, working directories, env, names, results.

use contract::{Event, Outcome, Section, Template};

use crate::harness::{request, run, run_job};

#[tokio::test]
async fn a_step_prints_and_succeeds() {
    let job = run_job(request(vec![run(0, "echo hello\necho oops >&2")])).await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.started_name(0).as_deref(), Some("Run echo hello"));
    let mut output = job.output(0);
    output.sort();
    assert_eq!(output, ["hello", "oops"]);
    let header = job.lines(Section::Step(0));
    assert_eq!(header[0], "##[group]Run echo hello");
    assert_eq!(&header[1..3], ["echo hello", "echo oops >&2"]);
    assert!(header[3].starts_with("shell: ") && header[3].ends_with("bash -e {0}"), "{header:?}");
    assert_eq!(job.step(0), (Outcome::Success, Outcome::Success, Default::default()));
    let setup = job.lines(Section::Setup);
    assert!(setup.iter().any(|l| l == "Runner name: 'test-runner'"), "{setup:?}");
    assert!(setup.iter().any(|l| l == "Evaluating job condition: success()"), "{setup:?}");
    assert!(job.lines(Section::Complete).iter().any(|l| l == "Cleaning up orphan processes"));
}

#[tokio::test]
async fn a_failing_step_fails_the_job_and_skips_what_needs_success() {
    let mut failure = run(2, "echo on failure");
    failure.if_ = Some(Template::expr("failure()"));
    let mut always = run(3, "echo always");
    always.if_ = Some(Template::expr("always()"));
    let job = run_job(request(vec![run(0, "echo before; exit 3"), run(1, "echo never"), failure, always])).await;
    assert_eq!(job.result(), Outcome::Failure);
    assert_eq!(job.output(0), ["before", "##[error]Process completed with exit code 3."]);
    assert_eq!(job.outcome(1), Outcome::Skipped);
    assert_eq!(job.started_name(1), None, "a skipped step has no step_started");
    assert_eq!(job.finished_name(1), "Run echo never");
    assert_eq!(job.output(2), ["on failure"]);
    assert_eq!(job.output(3), ["always"]);
    let annotations = job.annotations();
    assert_eq!(annotations.len(), 1);
    assert_eq!(annotations[0].message, "Process completed with exit code 3.");
    assert_eq!(annotations[0].step, Some(0));
}

#[tokio::test]
async fn continue_on_error_keeps_the_job_green() {
    let mut step = run(0, "exit 1");
    step.continue_on_error = Some(Template::literal(true));
    let mut next = run(1, "echo '${{ steps.s0.outcome }}' ${{ steps.s0.conclusion }}");
    next.run = Some(Template::expr("format('echo {0} {1}', steps.s0.outcome, steps.s0.conclusion)"));
    let job = run_job(request(vec![step, next])).await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.step(0).0, Outcome::Failure);
    assert_eq!(job.step(0).1, Outcome::Success);
    assert_eq!(job.output(1), ["failure success"]);
}

#[tokio::test]
async fn shells_follow_github_templates() {
    let mut pipefail = run(0, "false | true");
    pipefail.shell = Some("bash".into());
    let default = run(1, "false | true");
    let mut sh = run(2, "echo $0");
    sh.shell = Some("sh".into());
    let mut python = run(3, "import sys\nprint('py', sys.argv[0].endswith('.py'))");
    python.shell = Some("python".into());
    let mut custom = run(4, "echo custom");
    custom.shell = Some("bash --noprofile {0}".into());
    let mut pwsh = run(5, "Write-Output hi");
    pwsh.shell = Some("pwsh".into());
    let mut bogus = run(6, "echo");
    bogus.shell = Some("zsh -c".into());
    let mut job_request = request(vec![pipefail, default, sh, python, custom, pwsh, bogus]);
    for step in &mut job_request.steps[1..] {
        step.continue_on_error = Some(Template::literal(true));
    }
    job_request.steps[0].continue_on_error = Some(Template::literal(true));
    let job = run_job(job_request).await;
    assert_eq!(job.outcome(0), Outcome::Failure, "shell: bash uses pipefail");
    assert_eq!(job.outcome(1), Outcome::Success, "the default bash -e {{0}} does not");
    let header = job.lines(Section::Step(0));
    assert!(header.iter().any(|l| l.ends_with("bash --noprofile --norc -eo pipefail {0}")), "{header:?}");
    assert!(job.output(2)[0].ends_with(".sh"), "{:?}", job.output(2));
    if job.outcome(3) == Outcome::Success {
        assert_eq!(job.output(3), ["py True"]);
    }
    assert_eq!(job.output(4), ["custom"]);
    assert_eq!(job.outcome(5), Outcome::Failure);
    assert!(job.output(5).iter().any(|l| l.contains("The shell 'pwsh' is not installed on this runner")));
    assert_eq!(job.outcome(6), Outcome::Failure);
    assert!(job.output(6).iter().any(|l| l.starts_with("##[error]Invalid shell option 'zsh -c'")));
}

#[tokio::test]
async fn working_directory_is_relative_to_the_workspace() {
    let mut make = run(0, "mkdir -p sub/dir");
    make.working_directory = None;
    let mut inside = run(1, "pwd");
    inside.working_directory = Some(Template::literal("sub/dir"));
    let defaulted = run(2, "pwd");
    let missing = {
        let mut step = run(3, "pwd");
        step.working_directory = Some(Template::literal("nope"));
        step.if_ = Some(Template::expr("always()"));
        step
    };
    let mut job_request = request(vec![make, inside, defaulted, missing]);
    job_request.defaults.working_directory = Some(Template::literal("sub"));
    // The default applies to step 0 too, so create `sub` first through the workspace.
    job_request.steps[0].working_directory = Some(Template::literal("."));
    let job = run_job(job_request).await;
    let workspace = job.work.path().join("hello").join("hello");
    assert_eq!(job.output(1), [workspace.join("sub/dir").display().to_string()]);
    assert_eq!(job.output(2), [workspace.join("sub").display().to_string()]);
    assert_eq!(job.outcome(3), Outcome::Failure);
    assert!(job.output(3).iter().any(|l| l.contains("with working directory")), "{:?}", job.output(3));
}

#[tokio::test]
async fn the_environment_a_user_expects() {
    let script = "echo CI=$CI GA=$GITHUB_ACTIONS\n\
                  echo WS=$([ \"$GITHUB_WORKSPACE\" = \"$PWD\" ] && echo cwd)\n\
                  echo REPO=$GITHUB_REPOSITORY SHA=$GITHUB_SHA REF=$GITHUB_REF NAME=$GITHUB_REF_NAME\n\
                  echo JOB=$GITHUB_JOB ACTION=$GITHUB_ACTION RUNNER=$RUNNER_NAME OS=$RUNNER_OS ARCH=$RUNNER_ARCH\n\
                  echo TERM=$TERM FORCE=$FORCE_COLOR CLICOLOR=$CLICOLOR_FORCE NO_COLOR=${NO_COLOR-unset}\n\
                  echo HOME=${HOME:+set} TEMP=$([ -d \"$RUNNER_TEMP\" ] && echo dir) TOOL=$([ -d \"$RUNNER_TOOL_CACHE\" ] && echo dir)\n\
                  echo EVENT=$(cat \"$GITHUB_EVENT_PATH\" | tr -d ' \\n')\n\
                  echo FILES=$([ -f \"$GITHUB_ENV\" ] && [ -f \"$GITHUB_OUTPUT\" ] && [ -f \"$GITHUB_PATH\" ] && [ -f \"$GITHUB_STEP_SUMMARY\" ] && echo ok)\n\
                  echo ATTEMPT=$GITHUB_RUN_ATTEMPT RUN=${GITHUB_RUN_ID:+set} WF=$GITHUB_WORKSPACE_UNSET";
    let mut job_request = request(vec![run(0, script)]);
    job_request.contexts.github = serde_json::json!({"event_name": "push", "event": {"ref": "refs/heads/main"}});
    let job = run_job(job_request).await;
    let os = engine::local_platform();
    assert_eq!(
        job.output(0),
        [
            "CI=true GA=true".to_owned(),
            "WS=cwd".to_owned(),
            "REPO=octo/hello SHA=0123456789abcdef REF=refs/heads/main NAME=main".to_owned(),
            format!("JOB=build ACTION=s0 RUNNER=test-runner OS={} ARCH={}", os.os, os.arch),
            "TERM=xterm-256color FORCE=1 CLICOLOR=1 NO_COLOR=unset".to_owned(),
            "HOME=set TEMP=dir TOOL=dir".to_owned(),
            "EVENT={\"ref\":\"refs/heads/main\"}".to_owned(),
            "FILES=ok".to_owned(),
            "ATTEMPT=1 RUN=set WF=".to_owned(),
        ]
    );
}

#[tokio::test]
async fn env_layers_override_in_order_and_users_may_override_colours() {
    let mut job_request = request(vec![]);
    job_request.env.workflow.insert("A".into(), Template::literal("workflow"));
    job_request.env.workflow.insert("B".into(), Template::literal("workflow"));
    job_request.env.job.insert("B".into(), Template::expr("format('job over {0}', env.A)"));
    job_request.env.job.insert("TERM".into(), Template::literal("dumb"));
    let mut step = run(0, "echo $A / $B / $C / $TERM");
    step.env.insert("C".into(), Template::expr("format('step sees {0}', env.B)"));
    job_request.steps.push(step);
    let job = run_job(job_request).await;
    assert_eq!(job.output(0), ["workflow / job over workflow / step sees job over workflow / dumb"]);
    let header = job.lines(Section::Step(0));
    assert!(header.contains(&"env:".to_owned()));
    assert!(header.contains(&"  C: step sees job over workflow".to_owned()), "{header:?}");
}

#[tokio::test]
async fn names_are_evaluated_or_derived() {
    let mut named = run(0, "true");
    named.name = Some(Template::expr("format('Build {0}', matrix.os)"));
    let multi = run(1, "\n\n  echo first  \necho second");
    let mut skipped = run(2, "echo x");
    skipped.name = Some(Template::literal("Skipped one"));
    skipped.if_ = Some(Template::literal(false));
    let mut job_request = request(vec![named, multi, skipped]);
    job_request.contexts.matrix = serde_json::json!({"os": "illumos"});
    let job = run_job(job_request).await;
    assert_eq!(job.started_name(0).as_deref(), Some("Build illumos"));
    assert_eq!(job.finished_name(0), "Build illumos");
    assert_eq!(job.started_name(1).as_deref(), Some("Run echo first"));
    assert_eq!(job.finished_name(2), "Skipped one");
    assert_eq!(job.outcome(2), Outcome::Skipped);
}

#[tokio::test]
async fn output_bytes_become_lines() {
    let script = "printf 'a\\r\\nb\\rc\\n'; printf 'bad \\377 byte\\n'; head -c 70000 /dev/zero | tr '\\0' x; echo; printf 'no newline'";
    let job = run_job(request(vec![run(0, script)])).await;
    let output = job.output(0);
    assert_eq!(&output[..4], ["a", "b", "c", "bad \u{fffd} byte"]);
    assert_eq!(output[4].len(), 64 * 1024);
    assert_eq!(output[5].len(), 70000 - 64 * 1024);
    assert_eq!(output[6], "no newline");
}

#[tokio::test]
async fn many_lines_are_batched_into_few_events() {
    let job = run_job(request(vec![run(0, "seq 1 2000")])).await;
    let output = job.output(0);
    assert_eq!(output.len(), 2000);
    assert_eq!(output[1999], "2000");
    let batches = job.events.iter().filter(|e| matches!(e, Event::Log { section: Section::Step(0), .. })).count();
    assert!(batches < 100, "2000 lines came in {batches} log events");
}

#[tokio::test]
async fn background_processes_do_not_hold_the_job() {
    let job = run_job(request(vec![run(0, "sleep 300 &\necho started"), run(1, "echo next")])).await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.output(0), ["started"]);
    assert_eq!(job.output(1), ["next"]);
    let complete = job.lines(Section::Complete);
    assert!(complete.iter().any(|l| l.starts_with("Terminate orphan processes of step 1")), "{complete:?}");
}

#[tokio::test]
async fn a_false_job_condition_skips_the_job() {
    let mut job_request = request(vec![run(0, "echo no")]);
    job_request.if_ = Some(Template::expr("github.event_name == 'schedule'"));
    let job = run_job(job_request).await;
    assert_eq!(job.result(), Outcome::Skipped);
    assert_eq!(job.outcome(0), Outcome::Skipped);
    let setup = job.lines(Section::Setup);
    assert!(setup.contains(&"Evaluating job condition: success() && (github.event_name == 'schedule')".to_owned()));
    assert!(setup.contains(&"Result: false".to_owned()));
}

#[tokio::test]
async fn a_job_condition_sees_needs() {
    let mut job_request = request(vec![run(0, "echo ran")]);
    job_request.contexts.needs = serde_json::json!({"build": {"result": "failure", "outputs": {}}});
    let job = run_job(job_request.clone()).await;
    assert_eq!(job.result(), Outcome::Skipped, "success() is false when a needed job failed");
    job_request.if_ = Some(Template::expr("failure() && needs.build.result == 'failure'"));
    let job = run_job(job_request).await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.output(0), ["ran"]);
}

#[tokio::test]
async fn job_outputs_are_evaluated_at_the_end() {
    let mut job_request = request(vec![run(0, "echo 'v=42' >> $GITHUB_OUTPUT")]);
    job_request.outputs.insert("answer".into(), Template::expr("steps.s0.outputs.v"));
    job_request.outputs.insert("status".into(), Template::expr("job.status"));
    let job = run_job(job_request).await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.report.outputs.get("answer").map(String::as_str), Some("42"));
    assert_eq!(job.report.outputs.get("status").map(String::as_str), Some("success"));
    match job.events.last() {
        Some(Event::JobFinished { outputs, .. }) => assert_eq!(outputs, &job.report.outputs),
        other => panic!("last event {other:?}"),
    }
}

#[tokio::test]
async fn a_bad_expression_fails_the_step_not_the_engine() {
    let mut bad_if = run(0, "echo no");
    bad_if.if_ = Some(Template::expr("1 <"));
    let mut bad_env = run(1, "echo no");
    bad_env.if_ = Some(Template::expr("always()"));
    bad_env.env.insert("X".into(), Template::expr("fromJSON('{')"));
    let job = run_job(request(vec![bad_if, bad_env])).await;
    assert_eq!(job.result(), Outcome::Failure);
    assert_eq!(job.outcome(0), Outcome::Failure);
    assert!(job.output(0)[0].starts_with("##[error]The step's condition"), "{:?}", job.output(0));
    assert_eq!(job.outcome(1), Outcome::Failure);
    assert!(job.output(1)[0].starts_with("##[error]Evaluating env 'X' failed"), "{:?}", job.output(1));
}

#[tokio::test]
async fn a_chatty_background_process_outlives_its_step() {
    let start = "(while true; do echo tick; sleep 0.02; done) &\necho $! > \"$RUNNER_TEMP/bg.pid\"";
    let check = "sleep 0.5\nkill -0 \"$(cat \"$RUNNER_TEMP/bg.pid\")\" && echo alive";
    let job = run_job(request(vec![run(0, start), run(1, check)])).await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.output(1), ["alive"], "its output does not land in later steps, and it was not killed by SIGPIPE");
    assert!(job.output(0).iter().all(|l| l == "tick"), "{:?}", job.output(0));
}

#[tokio::test]
async fn a_bad_job_env_fails_the_job_before_any_step() {
    let mut job_request = request(vec![run(0, "echo no")]);
    job_request.env.job.insert("BAD".into(), Template::expr("fromJSON('nope')"));
    let job = run_job(job_request).await;
    assert_eq!(job.result(), Outcome::Failure);
    assert_eq!(job.outcome(0), Outcome::Skipped);
    let error = job.report.error.clone().unwrap_or_default();
    assert!(error.starts_with("The job could not be set up: evaluate env BAD:"), "{error}");
    assert!(job.lines(Section::Setup).contains(&format!("##[error]{error}")));
}
