//! What a job becomes in its JobRequest: templates, env layers, defaults, step ids and the
//! fields the step engine evaluates later.

use std::collections::BTreeMap;

use contract::{SecretString, StepKind, Template};
use serde_json::json;

use crate::{Fixture, expand_all, parse_ok};

fn lit(v: serde_json::Value) -> Template {
    Template::Literal(v)
}

fn expr(s: &str) -> Template {
    Template::Expr(s.to_string())
}

/// Table: one `run:`/`if:` value → the template it becomes.
#[test]
fn template_conversion() {
    let cases: &[(&str, Option<Template>, Option<Template>)] = &[
        ("echo hi", Some(lit(json!("echo hi"))), None),
        ("echo ${{ github.sha }}", Some(expr("format('echo {0}', github.sha)")), None),
        ("${{ github.sha }}", Some(expr("github.sha")), None),
        ("\"echo {x} 'q' ${{ matrix.os }}\"", Some(expr("format('echo {{x}} ''q'' {0}', matrix.os)")), None),
        ("\"${{ '${{ not evaluated }}' }}\"", Some(expr("'${{ not evaluated }}'")), None),
    ];
    for (run, expected, _) in cases {
        let source = format!("on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - run: {run}\n");
        let requests = expand_all(&source);
        assert_eq!(requests[0].steps[0].run, *expected, "run: {run}");
    }

    let conditions: &[(&str, Option<Template>)] = &[
        ("github.ref == 'refs/heads/main'", Some(expr("success() && (github.ref == 'refs/heads/main')"))),
        ("${{ github.ref == 'x' }}", Some(expr("success() && (github.ref == 'x')"))),
        ("always()", Some(expr("always()"))),
        ("${{ failure() || vars.X }}", Some(expr("failure() || vars.X"))),
        ("true", Some(expr("success() && (true)"))),
        ("''", None),
    ];
    for (cond, expected) in conditions {
        let source = format!(
            "on: push\njobs:\n  j:\n    if: {cond}\n    runs-on: linux-test\n    steps:\n      - run: echo\n        if: {cond}\n"
        );
        let requests = expand_all(&source);
        assert_eq!(requests[0].if_, *expected, "job if: {cond}");
        assert_eq!(requests[0].steps[0].if_, *expected, "step if: {cond}");
    }
}

#[test]
fn env_layers_defaults_and_job_fields() {
    let requests = expand_all(
        "name: CI
on: push
env:
  LEVEL: workflow
  NUM: 5
defaults:
  run:
    shell: bash
    working-directory: src
jobs:
  build:
    runs-on: [self-hosted, linux-test]
    timeout-minutes: 30
    continue-on-error: ${{ vars.OS == 'x' }}
    env:
      LEVEL: job
      REF: ${{ github.ref }}
    defaults:
      run:
        working-directory: job-dir
    outputs:
      out: ${{ steps.s.outputs.v }}
    steps:
      - id: s
        name: Say ${{ matrix.x }}
        run: echo hi
        shell: sh
        working-directory: sub
        continue-on-error: true
        timeout-minutes: 5
        env:
          STEP: one
",
    );
    let r = &requests[0];
    assert_eq!(r.workflow_name, "CI");
    assert_eq!(r.route_label, "linux-test");
    assert_eq!(r.runs_on, ["self-hosted", "linux-test"]);
    assert_eq!(
        r.env.workflow,
        BTreeMap::from([("LEVEL".into(), lit(json!("workflow"))), ("NUM".into(), lit(json!("5")))])
    );
    assert_eq!(r.env.job, BTreeMap::from([("LEVEL".into(), lit(json!("job"))), ("REF".into(), expr("github.ref"))]));
    assert_eq!(r.defaults.shell.as_deref(), Some("bash"));
    assert_eq!(r.defaults.working_directory, Some(lit(json!("job-dir"))));
    assert_eq!(r.timeout_minutes, Some(lit(json!(30))));
    assert_eq!(r.continue_on_error, Some(expr("vars.OS == 'x'")));
    assert_eq!(r.outputs, BTreeMap::from([("out".into(), expr("steps.s.outputs.v"))]));
    assert_eq!(r.contexts.github["ref"], json!("refs/heads/main"));
    assert_eq!(r.contexts.vars, json!({"OS": "omnios-r151054"}));
    let s = &r.steps[0];
    assert_eq!((s.index, s.id.as_str()), (0, "s"));
    assert_eq!(s.name, Some(expr("format('Say {0}', matrix.x)")));
    assert_eq!(s.shell.as_deref(), Some("sh"));
    assert_eq!(s.working_directory, Some(lit(json!("sub"))));
    assert_eq!(s.continue_on_error, Some(lit(json!(true))));
    assert_eq!(s.timeout_minutes, Some(lit(json!(5))));
    assert_eq!(s.env, BTreeMap::from([("STEP".into(), lit(json!("one")))]));
}

#[test]
fn workflow_name_defaults_to_the_file() {
    let workflow = parse_ok("on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps: [{run: echo}]\n");
    assert_eq!(workflow.name(), ".github/workflows/ci.yml");
}

/// Generated ids as GitHub's parser makes them (conformance files step-id-generates-*.yml).
#[test]
fn generated_step_ids() {
    let requests = expand_all(
        "on: push
jobs:
  j:
    runs-on: linux-test
    steps:
      - uses: actions/checkout@v4
      - run: echo 1
      - run: echo 2
      - id: run_2
        run: echo 3
      - uses: actions/checkout@v3
        with:
          path: sub
          fetch-depth: 0
          ref: ${{ github.sha }}
      - run: echo 4
",
    );
    let ids: Vec<(u32, &str, StepKind)> = requests[0].steps.iter().map(|s| (s.index, s.id.as_str(), s.kind)).collect();
    assert_eq!(
        ids,
        [
            (0, "__actions_checkout", StepKind::Checkout),
            (1, "__run", StepKind::Run),
            (2, "__run_2", StepKind::Run),
            (3, "run_2", StepKind::Run),
            (4, "__actions_checkout_2", StepKind::Checkout),
            (5, "__run_3", StepKind::Run),
        ]
    );
    assert_eq!(
        requests[0].steps[4].with,
        BTreeMap::from([
            ("path".into(), lit(json!("sub"))),
            ("fetch-depth".into(), lit(json!("0"))),
            ("ref".into(), expr("github.sha")),
        ])
    );
}

#[test]
fn secrets_are_sealed_per_job() {
    let workflow = parse_ok(
        "on: push\njobs:\n  j:\n    runs-on: linux-test\n    strategy: {matrix: {n: [1, 2]}}\n    steps: [{run: echo}]\n",
    );
    let mut fixture = Fixture::new();
    fixture.secrets.insert("TOKEN".into(), SecretString::new("s3cret".into()));
    fixture.secrets.insert("GITHUB_TOKEN".into(), SecretString::new("ghs_x".into()));
    let requests = fixture.expand(&workflow, "j").unwrap_or_else(|e| panic!("{e}"));
    for r in &requests {
        let sealed = &r.secrets["TOKEN"];
        assert_eq!(fixture.key.open(r.job_id, sealed).map(|s| s.expose().to_string()), Ok("s3cret".to_string()));
        let token = r.workspace.token.as_ref().expect("the workspace token comes from GITHUB_TOKEN");
        assert_eq!(fixture.key.open(r.job_id, token).map(|s| s.expose().to_string()), Ok("ghs_x".to_string()));
        let json = serde_json::to_string(r).unwrap_or_default();
        assert!(!json.contains("s3cret"), "a secret in clear in {json}");
    }
    // Sealed for one job, a secret does not open in another (the job id is the AAD).
    assert!(fixture.key.open(requests[1].job_id, &requests[0].secrets["TOKEN"]).is_err());
}

#[test]
fn on_is_the_key_on() {
    for on in ["on: push", "\"on\": [push]", "on:\n  push:\n    branches: [main]", "on: {workflow_dispatch: }"] {
        parse_ok(&format!("{on}\njobs:\n  j:\n    runs-on: linux-test\n    steps: [{{run: echo}}]\n"));
    }
}

#[test]
fn schema_errors_name_file_line_and_job() {
    for (source, expected) in [
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    timeout-minuets: 5\n    steps: [{run: echo}]\n",
            "ci.yml:5:5: job 'j': Unexpected value 'timeout-minuets'",
        ),
        (
            "on: push\njobs:\n  j:\n    steps: [{run: echo}]\n",
            "ci.yml:4:5: job 'j': Required property is missing: runs-on",
        ),
        ("on: push\n", "ci.yml:1:1: Required property is missing: jobs"),
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - run: a\n        uses: actions/checkout@v4\n",
            "ci.yml:7:9: job 'j': Unexpected value 'uses'",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - name: nothing\n",
            "There's not enough info to determine what you meant",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - {id: a, run: x}\n      - {id: a, run: y}\n",
            "ci.yml:7:14: job 'j': The identifier 'a' may not be used more than once within the same scope.",
        ),
        (
            "on: push\njobs:\n  j.k:\n    runs-on: linux-test\n    steps: [{run: echo}]\n",
            "ci.yml:3:3: The identifier 'j.k' is invalid",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: ${{ secrets.X }}\n    steps: [{run: echo}]\n",
            "ci.yml:4:14: job 'j': Unrecognized named-value: 'secrets'",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps: [{run: 'echo ${{ github.event_name == }}'}]\n",
            "job 'j': Unexpected end of expression",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - run: echo ${{ x\n",
            "ci.yml:6:14: job 'j': The expression is not closed",
        ),
        ("on: push\njobs: [\n", "ci.yml:3:1: invalid YAML"),
    ] {
        let err = crate::parse_err(source);
        assert!(err.contains(expected), "expected {expected:?} in\n{err}\n--- source:\n{source}");
    }
}
