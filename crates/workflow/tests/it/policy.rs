//! Solstice's product rules: only `actions/checkout`, no job containers, services or reusable
//! workflows, and every job has steps — each refused with file:line and the job's key.

use workflow::{Mode, ParseOptions};

use crate::Fixture;

const FILE: &str = ".github/workflows/ci.yml";

fn check(source: &str, expected: &str) {
    let err = match workflow::parse(source, FILE) {
        Ok(_) => panic!("expected a rejection:\n{source}"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(expected), "expected {expected:?} in\n{err}");
    // GitHub's rules alone accept it; expanding the job then refuses with the same diagnostic.
    let github = workflow::parse_with(source, FILE, &ParseOptions { mode: Mode::GitHub })
        .unwrap_or_else(|e| panic!("GitHub mode should accept:\n{e}"));
    let key = github.job_keys().into_iter().last().unwrap_or_default();
    match Fixture::new().expand(&github, &key) {
        Ok(_) => panic!("expand_job should refuse {key}"),
        Err(e) => assert!(e.to_string().contains(expected), "expand: expected {expected:?} in\n{e}"),
    }
}

#[test]
fn unsupported_features_are_refused_with_positions() {
    let table = [
        (
            "on: push\njobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-node@v4\n",
            "ci.yml:7:15: job 'build': step 2 uses 'actions/setup-node@v4': only actions/checkout is supported; see docs/faq.md",
        ),
        (
            "on: push\njobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: Node\n        uses: docker://node:20\n",
            "ci.yml:7:15: job 'build': step 'Node' uses 'docker://node:20': only actions/checkout is supported",
        ),
        (
            "on: push\njobs:\n  db:\n    runs-on: linux-test\n    container: debian:12\n    steps: [{run: echo}]\n",
            "ci.yml:5:5: job 'db': job-level 'container:' is not supported",
        ),
        (
            "on: push\njobs:\n  db:\n    runs-on: linux-test\n    services:\n      pg: postgres\n    steps: [{run: echo}]\n",
            "ci.yml:5:5: job 'db': 'services:' are not supported",
        ),
        (
            "on: push\njobs:\n  call:\n    uses: o/r/.github/workflows/w.yml@v1\n",
            "ci.yml:4:5: job 'call': reusable workflow jobs are not supported ('uses: o/r/.github/workflows/w.yml@v1')",
        ),
        (
            "on: push\njobs:\n  empty:\n    runs-on: linux-test\n",
            "ci.yml:4:5: job 'empty': Required property is missing: steps",
        ),
    ];
    for (source, expected) in table {
        check(source, expected);
    }
}

#[test]
fn checkout_forms_are_accepted() {
    for uses in [
        "actions/checkout@v4",
        "actions/checkout@0123abc",
        "Actions/Checkout@main",
        "https://code.forgejo.org/actions/checkout@v4",
    ] {
        let source = format!("on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - uses: {uses}\n");
        let requests = crate::expand_all(&source);
        assert_eq!(requests[0].steps[0].kind, contract::StepKind::Checkout, "{uses}");
    }
}
