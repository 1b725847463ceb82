//! `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH` and `GITHUB_STEP_SUMMARY`.

use contract::{Outcome, Template};

use crate::harness::{request, run, run_job};

#[tokio::test]
async fn env_applies_to_later_steps_and_the_env_context() {
    let first = run(
        0,
        "echo 'ONE=1' >> $GITHUB_ENV\nprintf 'MULTI<<EOF\\nline a\\nline b\\nEOF\\n' >> $GITHUB_ENV\necho \"same step: ${ONE-unset}\"",
    );
    let second = run(1, "echo \"$ONE\"; echo \"$MULTI\"");
    let mut third = run(2, "");
    third.run = Some(Template::expr("format('echo {0}', env.ONE)"));
    let job = run_job(request(vec![first, second, third])).await;
    assert_eq!(job.output(0), ["same step: unset"]);
    assert_eq!(job.output(1), ["1", "line a", "line b"]);
    assert_eq!(job.output(2), ["1"]);
}

#[tokio::test]
async fn step_env_wins_over_github_env() {
    let mut second = run(1, "echo $V");
    second.env.insert("V".into(), Template::literal("step"));
    let job = run_job(request(vec![run(0, "echo V=file >> $GITHUB_ENV"), second, run(2, "echo $V")])).await;
    assert_eq!(job.output(1), ["step"]);
    assert_eq!(job.output(2), ["file"]);
}

#[tokio::test]
async fn outputs_go_to_the_steps_context_and_step_finished() {
    let first = run(0, "echo 'a=1' >> $GITHUB_OUTPUT\nprintf 'b<<X\\nx\\ny\\nX\\n' >> $GITHUB_OUTPUT");
    let mut second = run(1, "");
    second.run = Some(Template::expr("format('echo \"{0}-{1}\"', steps.s0.outputs.a, steps.s0.outputs.b)"));
    let generated = contract::StepCommand::run(2, "__run", Template::literal("echo 'c=3' >> $GITHUB_OUTPUT"));
    let mut fourth = run(3, "");
    fourth.run = Some(Template::expr("format('echo [{0}]', toJSON(steps))"));
    let job = run_job(request(vec![first, second, generated, fourth])).await;
    let (_, _, outputs) = job.step(0);
    assert_eq!(outputs.get("a").map(String::as_str), Some("1"));
    assert_eq!(outputs.get("b").map(String::as_str), Some("x\ny"));
    assert_eq!(job.output(1), ["1-x", "y"]);
    assert_eq!(job.step(2).2.get("c").map(String::as_str), Some("3"), "step_finished has a generated id's outputs");
    let context = job.output(3).join("");
    assert!(!context.contains("__run"), "a generated id is not in the steps context: {context}");
}

#[tokio::test]
async fn path_prepends_for_later_steps() {
    let script = "mkdir -p \"$RUNNER_TEMP/bin1\" \"$RUNNER_TEMP/bin2\"\n\
                  printf '#!/bin/sh\\necho tool1\\n' > \"$RUNNER_TEMP/bin1/mytool\"\n\
                  printf '#!/bin/sh\\necho tool2\\n' > \"$RUNNER_TEMP/bin2/mytool\"\n\
                  chmod +x \"$RUNNER_TEMP/bin1/mytool\" \"$RUNNER_TEMP/bin2/mytool\"\n\
                  echo \"$RUNNER_TEMP/bin1\" >> $GITHUB_PATH\n\
                  echo \"$RUNNER_TEMP/bin2\" >> $GITHUB_PATH";
    let job =
        run_job(request(vec![run(0, script), run(1, "mytool; echo \"$PATH\" | cut -d: -f1 | xargs basename")])).await;
    assert_eq!(job.output(1), ["tool2", "bin2"]);
}

#[tokio::test]
async fn summaries_become_events() {
    let job = run_job(request(vec![
        run(0, "echo '# Title' >> $GITHUB_STEP_SUMMARY\necho '- item' >> $GITHUB_STEP_SUMMARY"),
        run(1, "true"),
    ]))
    .await;
    assert_eq!(job.summaries(), [(0, "# Title\n- item\n".to_owned())]);
}

#[tokio::test]
async fn a_malformed_file_fails_the_step() {
    let job = run_job(request(vec![run(0, "echo 'X<<EOF' >> $GITHUB_OUTPUT\necho value >> $GITHUB_OUTPUT")])).await;
    assert_eq!(job.outcome(0), Outcome::Failure);
    let output = job.output(0);
    assert!(output.iter().any(|l| l.contains("Matching delimiter not found 'EOF'")), "{output:?}");
}
