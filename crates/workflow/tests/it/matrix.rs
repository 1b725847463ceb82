//! Matrix expansion, checked against the examples in GitHub's docs ("Running variations of
//! jobs in a workflow": expanding or adding matrix configurations, excluding configurations).

use serde_json::{Value, json};

use crate::{Fixture, parse_err, parse_ok};

/// Expands `matrix_yaml` (the body under `matrix:`, indented 8 spaces) and compares the
/// `matrix` context of each request, in order, with `expected`.
fn check(matrix_yaml: &str, expected: Value) {
    let source = format!(
        "on: push\njobs:\n  build:\n    runs-on: linux-test\n    strategy:\n      matrix:\n{matrix_yaml}\n    steps:\n      - run: echo\n"
    );
    let workflow = parse_ok(&source);
    let requests = Fixture::new().expand(&workflow, "build").unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<Value> = requests.iter().map(|r| r.contexts.matrix.clone()).collect();
    assert_eq!(Value::Array(got), expected, "matrix:\n{matrix_yaml}");
}

#[test]
fn docs_expanding_or_adding_configurations() {
    check(
        "        fruit: [apple, pear]
        animal: [cat, dog]
        include:
          - color: green
          - color: pink
            animal: cat
          - fruit: apple
            shape: circle
          - fruit: banana
          - fruit: banana
            animal: cat",
        json!([
            {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
            {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
            {"fruit": "pear", "animal": "cat", "color": "pink"},
            {"fruit": "pear", "animal": "dog", "color": "green"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ]),
    );
}

#[test]
fn docs_expanding_configurations() {
    check(
        "        os: [windows-latest, ubuntu-latest]
        node: [14, 16]
        include:
          - os: windows-latest
            node: 16
            npm: 6",
        json!([
            {"os": "windows-latest", "node": 14},
            {"os": "windows-latest", "node": 16, "npm": 6},
            {"os": "ubuntu-latest", "node": 14},
            {"os": "ubuntu-latest", "node": 16},
        ]),
    );
}

#[test]
fn docs_adding_configurations() {
    check(
        "        os: [windows-latest, ubuntu-latest, macos-latest]
        node: [14, 16]
        include:
          - os: windows-latest
            node: 17",
        json!([
            {"os": "windows-latest", "node": 14},
            {"os": "windows-latest", "node": 16},
            {"os": "ubuntu-latest", "node": 14},
            {"os": "ubuntu-latest", "node": 16},
            {"os": "macos-latest", "node": 14},
            {"os": "macos-latest", "node": 16},
            {"os": "windows-latest", "node": 17},
        ]),
    );
}

#[test]
fn docs_include_only() {
    check(
        "        include:
          - site: production
            datacenter: site-a
          - site: staging
            datacenter: site-b",
        json!([
            {"site": "production", "datacenter": "site-a"},
            {"site": "staging", "datacenter": "site-b"},
        ]),
    );
}

#[test]
fn docs_excluding_configurations() {
    check(
        "        os: [macos-latest, windows-latest]
        version: [12, 14, 16]
        environment: [staging, production]
        exclude:
          - os: macos-latest
            version: 12
            environment: production
          - os: windows-latest
            version: 16",
        json!([
            {"os": "macos-latest", "version": 12, "environment": "staging"},
            {"os": "macos-latest", "version": 14, "environment": "staging"},
            {"os": "macos-latest", "version": 14, "environment": "production"},
            {"os": "macos-latest", "version": 16, "environment": "staging"},
            {"os": "macos-latest", "version": 16, "environment": "production"},
            {"os": "windows-latest", "version": 12, "environment": "staging"},
            {"os": "windows-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 14, "environment": "staging"},
            {"os": "windows-latest", "version": 14, "environment": "production"},
        ]),
    );
}

#[test]
fn values_may_be_objects_and_expressions() {
    check(
        "        cfg:
          - {os: linux, cc: gcc}
          - ${{ fromJSON('{\"os\":\"illumos\",\"cc\":\"clang\"}') }}
        ref: ['${{ github.ref }}']",
        json!([
            {"cfg": {"os": "linux", "cc": "gcc"}, "ref": "refs/heads/main"},
            {"cfg": {"os": "illumos", "cc": "clang"}, "ref": "refs/heads/main"},
        ]),
    );
}

#[test]
fn dynamic_matrix_from_needs() {
    let workflow = parse_ok(
        "on: push
jobs:
  plan:
    runs-on: linux-test
    steps: [{run: echo}]
  build:
    needs: plan
    runs-on: linux-test
    strategy:
      matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
    steps: [{run: echo}]
",
    );
    let mut fixture = Fixture::new();
    fixture.needs = json!({"plan": {"result": "success", "outputs": {"matrix": "{\"os\":[\"a\",\"b\"],\"include\":[{\"os\":\"c\"}]}"}}});
    let requests = fixture.expand(&workflow, "build").unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["build (a)", "build (b)", "build (c)"]);
}

#[test]
fn strategy_context_per_combination() {
    let workflow = parse_ok(
        "on: push
jobs:
  t:
    runs-on: linux-test
    strategy:
      fail-fast: false
      max-parallel: 1
      matrix: {n: [1, 2]}
    steps: [{run: echo}]
",
    );
    let requests = Fixture::new().expand(&workflow, "t").unwrap_or_else(|e| panic!("{e}"));
    let strategies: Vec<Value> = requests.iter().map(|r| r.contexts.strategy.clone()).collect();
    assert_eq!(
        strategies,
        [
            json!({"fail-fast": false, "job-index": 0, "job-total": 2, "max-parallel": 1}),
            json!({"fail-fast": false, "job-index": 1, "job-total": 2, "max-parallel": 1}),
        ]
    );
    assert_ne!(requests[0].job_id, requests[1].job_id);

    let single = parse_ok("on: push\njobs:\n  s:\n    runs-on: linux-test\n    steps: [{run: echo}]\n");
    let requests = Fixture::new().expand(&single, "s").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].contexts.matrix, Value::Null);
    assert_eq!(
        requests[0].contexts.strategy,
        json!({"fail-fast": true, "job-index": 0, "job-total": 1, "max-parallel": 1})
    );
}

#[test]
fn matrices_that_expand_to_nothing_are_rejected() {
    for (matrix, reason) in [
        ("{os: []}", "Matrix vector 'os' does not contain any values"),
        ("{os: [a], exclude: [{os: a}]}", "the matrix expands to no job"),
        ("{}", "the matrix expands to no job"),
    ] {
        let source = format!(
            "on: push\njobs:\n  build:\n    runs-on: linux-test\n    strategy:\n      matrix: {matrix}\n    steps: [{{run: echo}}]\n"
        );
        let err = parse_err(&source);
        assert!(err.contains(".github/workflows/ci.yml:6:15: job 'build': "), "{err}");
        assert!(err.contains(reason), "{matrix}: {err}");
    }
}

#[test]
fn display_names() {
    let requests = crate::expand_all(
        "on: push
jobs:
  plain:
    runs-on: linux-test
    strategy: {matrix: {os: [linux, illumos], v: [1]}}
    steps: [{run: echo}]
  named:
    name: Test
    runs-on: linux-test
    strategy: {matrix: {os: [linux]}}
    steps: [{run: echo}]
  templated:
    name: test on ${{ matrix.os }}
    runs-on: linux-test
    strategy: {matrix: {os: [linux]}}
    steps: [{run: echo}]
  single:
    runs-on: linux-test
    steps: [{run: echo}]
",
    );
    let names: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["plain (linux, 1)", "plain (illumos, 1)", "Test (linux)", "test on linux", "single"]);
}
