//! A forge's one-job workflow (Forgejo's task payload) → one JobRequest, with the forge's
//! decisions (name, runs-on, matrix combination) kept as data.

use serde_json::json;
use workflow::{SingleJobError, expand_single_job, parse_single_job};

use crate::Fixture;

const MATRIX_JOB: &str = r#"name: CI
"on":
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      level:
        type: number
        default: 2
      note:
        type: string
        default: null
env:
  WF: one
jobs:
  build:
    name: build (omnios-r151054, 1.19)
    runs-on: [self-hosted, omnios-r151054]
    timeout-minutes: "30"
    concurrency:
      group: ci
      cancel-in-progress: "true"
    strategy:
      fail-fast: "false"
      max-parallel: "2"
      matrix:
        os: [omnios-r151054]
        v: ["1.19"]
    defaults:
      run:
        shell: ${{ matrix.os == 'omnios-r151054' && 'bash' || 'sh' }}
    steps:
      - uses: https://data.forgejo.org/actions/checkout@v4
      - run: go test ./...
        timeout-minutes: "5"
incomplete_matrix: false
__metadata:
  namespace: abc
enable-openid-connect: true
"#;

fn expand(source: &str) -> Result<contract::JobRequest, SingleJobError> {
    let job = parse_single_job(source, "ci.yml")?;
    expand_single_job(&job, &Fixture::new().input())
}

#[test]
fn forge_decisions_are_kept_and_contexts_are_the_one_combination() {
    let job = parse_single_job(MATRIX_JOB, "ci.yml").expect("payload parses");
    assert_eq!(job.job_key(), "build");
    assert_eq!(job.runs_on(), ["self-hosted", "omnios-r151054"]);
    let inputs = job.workflow().inputs("workflow_dispatch").expect("dispatch inputs are kept");
    assert_eq!(
        inputs.iter().map(|i| (i.name.as_str(), i.default.is_some())).collect::<Vec<_>>(),
        [("level", true), ("note", false)]
    );
    let request = expand_single_job(&job, &Fixture::new().input()).expect("expands");
    assert_eq!(request.name, "build (omnios-r151054, 1.19)");
    assert_eq!(request.route_label, "omnios-r151054");
    assert_eq!(request.runs_on, ["self-hosted", "omnios-r151054"]);
    assert_eq!(request.contexts.matrix, json!({"os": "omnios-r151054", "v": "1.19"}));
    assert_eq!(
        request.contexts.strategy,
        json!({"fail-fast": false, "job-index": 0, "job-total": 1, "max-parallel": 2})
    );
    assert_eq!(request.defaults.shell.as_deref(), Some("bash"));
    assert_eq!(request.steps.len(), 2);
    assert_eq!(request.steps[0].kind, contract::StepKind::Checkout);
    assert_eq!(request.timeout_minutes, Some(contract::Template::Literal(json!(30))));
    assert_eq!(request.steps[1].timeout_minutes, Some(contract::Template::Literal(json!(5))));
}

#[test]
fn evaluated_values_holding_expression_syntax_stay_text() {
    let source = r#"on: push
jobs:
  j:
    name: "title ${{ github.token }}"
    runs-on: linux-test
    strategy:
      matrix:
        title: ["it's ${{ secrets.X }} }} done"]
    steps:
      - run: echo
"#;
    let request = expand(source).expect("expands");
    assert_eq!(request.name, "title ${{ github.token }}");
    assert_eq!(request.contexts.matrix, json!({"title": "it's ${{ secrets.X }} }} done"}));
}

#[test]
fn job_keys_of_expanded_reusable_workflows_are_kept() {
    let source = "on: push\njobs:\n  __namespace.abc.inner:\n    name: inner\n    runs-on: linux-test\n    steps:\n      - run: echo\n";
    let request = expand(source).expect("expands");
    assert_eq!(request.job_key, "__namespace.abc.inner");
    assert_eq!(request.name, "inner");
}

/// Table: payload → the error a user reads.
#[test]
fn bad_payloads_are_refused_with_reasons() {
    let two = "on: push\njobs:\n  a:\n    runs-on: linux-test\n    steps: [{run: x}]\n  b:\n    runs-on: linux-test\n    steps: [{run: x}]\n";
    let cases: &[(&str, &str)] = &[
        (two, "read the job: the payload holds 2 jobs (a, b), a task carries exactly one"),
        ("on: push\njobs: {}\n", "read the job: the payload holds 0 jobs, a task carries exactly one"),
        ("name: x\n", "read the job: the payload holds 0 jobs, a task carries exactly one"),
        ("- a\n", "ci.yml: the payload must be a mapping, found a sequence"),
        ("jobs: [\n", "ci.yml: invalid YAML: while parsing a node, did not find expected node content"),
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - name: Go\n        uses: actions/setup-go@v5\n",
            "ci.yml: job 'j': step 'Go' uses 'actions/setup-go@v5': only actions/checkout is supported; see docs/faq.md",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: []\n    uses: ./.forgejo/workflows/r.yml\n",
            "ci.yml: job 'j': reusable workflow jobs are not supported ('uses: ./.forgejo/workflows/r.yml'); see docs/faq.md",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: linux-test\n    container: debian\n    steps: [{run: x}]\n",
            "ci.yml: job 'j': job-level 'container:' is not supported: every job runs in a VM of its 'runs-on' image; see docs/faq.md",
        ),
        (
            "on: push\njobs:\n  j:\n    runs-on: {group: g}\n    steps: [{run: x}]\n",
            "read the job: its runs-on must be a label or a list of labels, found {\"group\":\"g\"}",
        ),
    ];
    for (source, expected) in cases {
        match expand(source) {
            Ok(r) => panic!("expected {expected:?}, got a request for {}", r.name),
            Err(e) => assert_eq!(e.to_string(), *expected, "payload:\n{source}"),
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Garbage in: an error, never a panic.
    #[test]
    fn never_panics(cut in 0usize..MATRIX_JOB.len(), noise in "\\PC{0,40}") {
        let source = format!("{}{noise}", &MATRIX_JOB[..cut]);
        if let Ok(job) = parse_single_job(&source, "ci.yml") {
            let _ = expand_single_job(&job, &Fixture::new().input());
        }
    }
}
