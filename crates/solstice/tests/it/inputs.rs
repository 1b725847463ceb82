//! `--input` against the workflow's `on.workflow_dispatch.inputs`: values that do not fit are
//! bad input (exit 2, the input named on stderr) before any job starts.

use crate::{agent_dir, assert_exit, project, solstice, text};

const DISPATCH_WORKFLOW: &str = "\
name: inputs
on:
  push:
  workflow_dispatch:
    inputs:
      dry-run:
        type: boolean
      count:
        type: number
        default: 1
      level:
        type: choice
        options: [info, debug]
      target:
        required: true
jobs:
  greet:
    runs-on: linux-test
    steps:
      - name: greet
        run: echo ${{ inputs.target }}
";

/// `solstice run --event workflow_dispatch ARGS… workflow.yml` with the fake agent, so a run
/// that gets past the inputs succeeds.
fn dispatch(args: &[&str]) -> std::process::Output {
    let dir = project(DISPATCH_WORKFLOW);
    let agents = agent_dir("agent-succeeds.sh");
    let agent_dir = agents.path().to_str().unwrap();
    let mut all = vec!["--executor", "local", "--event", "workflow_dispatch"];
    all.extend_from_slice(args);
    all.push("workflow.yml");
    solstice(dir.path(), &all, &[("SOLSTICE_AGENT_DIR", agent_dir)])
}

#[track_caller]
fn check_bad_input(args: &[&str], wanted: &[&str]) {
    let output = dispatch(args);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    for word in wanted {
        assert!(stderr.contains(word), "{args:?}: stderr lacks {word:?}:\n{stderr}");
    }
    assert!(output.stdout.is_empty(), "no job may start: {}", text(&output.stdout));
}

#[test]
fn inputs_that_fit_their_definitions_run() {
    let output = dispatch(&["--input", "target=prod", "--input", "dry-run=true", "--input", "count=2.5"]);
    assert_exit(&output, 0);
    let output = dispatch(&["--input", "target=prod", "--input", "level=debug", "--input", "dry-run=false"]);
    assert_exit(&output, 0);
}

#[test]
fn a_boolean_input_takes_only_true_or_false() {
    check_bad_input(&["--input", "target=x", "--input", "dry-run=yes"], &["'dry-run'", "'yes'", "true or false"]);
}

#[test]
fn a_number_input_takes_only_numbers() {
    check_bad_input(&["--input", "target=x", "--input", "count=many"], &["'count'", "'many'", "number"]);
}

#[test]
fn a_choice_input_takes_only_its_options() {
    check_bad_input(&["--input", "target=x", "--input", "level=trace"], &["'level'", "'trace'", "info, debug"]);
}

#[test]
fn a_required_input_without_default_must_be_given() {
    check_bad_input(&[], &["'target'", "required"]);
}

#[test]
fn an_input_the_workflow_does_not_define_is_refused() {
    check_bad_input(&["--input", "target=x", "--input", "colour=red"], &["'colour'", "dry-run, count, level, target"]);
}

#[test]
fn an_event_without_input_definitions_takes_any_input_as_text() {
    let dir = project(DISPATCH_WORKFLOW);
    let agents = agent_dir("agent-succeeds.sh");
    let agent_dir = agents.path().to_str().unwrap();
    let args = ["--executor", "local", "--event", "push", "--input", "colour=red", "workflow.yml"];
    let output = solstice(dir.path(), &args, &[("SOLSTICE_AGENT_DIR", agent_dir)]);
    assert_exit(&output, 0);
}
