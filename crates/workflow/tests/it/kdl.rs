//! `.solstice/workflow.kdl`: the brief's example translates to the same JobRequests as the
//! equivalent YAML, and mistakes are reported with KDL positions.

use contract::JobRequest;
use ulid::Ulid;

use crate::Fixture;

const BRIEF_EXAMPLE: &str = r#"workflow "ci" {
    job "build" runs-on="omnios-r151054" timeout-minutes=30 {
        setup os="illumos" { run "pfexec pkg install -q developer/gcc14" }
        setup os="linux" { run "sudo apt-get install -y gcc" }
        env RUST_BACKTRACE="1"
        step "checkout" uses="checkout"
        step "test" { run "cargo test" ; shell "bash" }
    }
    job "lint" runs-on="linux-test" needs="build" {
        step "fmt" { run "cargo fmt --check" }
    }
}
"#;

const BRIEF_EXAMPLE_AS_YAML: &str = r#"name: ci
on: push
jobs:
  build:
    runs-on: omnios-r151054
    timeout-minutes: 30
    env:
      RUST_BACKTRACE: "1"
    steps:
      - run: pfexec pkg install -q developer/gcc14
        if: runner.os == 'illumos'
      - run: sudo apt-get install -y gcc
        if: runner.os == 'Linux'
      - name: checkout
        uses: actions/checkout@v4
      - name: test
        run: cargo test
        shell: bash
  lint:
    runs-on: linux-test
    needs: build
    steps:
      - name: fmt
        run: cargo fmt --check
"#;

fn requests(source: &str, file: &str) -> Vec<JobRequest> {
    let workflow = workflow::parse(source, file).unwrap_or_else(|e| panic!("{file}:\n{e}"));
    let fixture = Fixture::new();
    let mut out = Vec::new();
    for key in workflow.job_keys() {
        for mut r in fixture.expand(&workflow, &key).unwrap_or_else(|e| panic!("{e}")) {
            r.job_id = Ulid::nil();
            out.push(r);
        }
    }
    out
}

#[test]
fn brief_example_equals_yaml() {
    let kdl = requests(BRIEF_EXAMPLE, ".solstice/workflow.kdl");
    let yaml = requests(BRIEF_EXAMPLE_AS_YAML, ".github/workflows/ci.yml");
    assert_eq!(kdl.len(), 2);
    assert_eq!(kdl, yaml);
    let build = &kdl[0];
    assert_eq!(build.steps.len(), 4);
    assert_eq!(build.steps[0].if_, Some(contract::Template::Expr("success() && (runner.os == 'illumos')".into())));
    assert_eq!(build.steps[2].kind, contract::StepKind::Checkout);
    assert_eq!(kdl[1].job_key, "lint");
}

#[test]
fn matrix_and_more_in_kdl() {
    let kdl = r#"workflow "m" {
    on "push" "pull_request"
    defaults { run shell="bash" }
    job "test" {
        runs-on "self-hosted" "${{ matrix.image }}"
        strategy {
            fail-fast #false
            matrix {
                image "linux-test" "freebsd-14"
                cc "gcc"
                include image="linux-test" extra="x"
                exclude image="freebsd-14" cc="gcc"
                include image="debian-12"
            }
        }
        step { run "make CC=${{ matrix.cc }}" }
    }
}
"#;
    let yaml = r#"name: m
on: [push, pull_request]
defaults:
  run:
    shell: bash
jobs:
  test:
    runs-on: [self-hosted, "${{ matrix.image }}"]
    strategy:
      fail-fast: false
      matrix:
        image: [linux-test, freebsd-14]
        cc: [gcc]
        include:
          - {image: linux-test, extra: x}
          - {image: debian-12}
        exclude:
          - {image: freebsd-14, cc: gcc}
    steps:
      - run: make CC=${{ matrix.cc }}
"#;
    let a = requests(kdl, "w.kdl");
    let b = requests(yaml, "w.yml");
    let labels: Vec<&str> = a.iter().map(|r| r.route_label.as_str()).collect();
    assert_eq!(labels, ["linux-test", "debian-12"]);
    let strip = |mut v: Vec<JobRequest>| {
        for r in &mut v {
            r.workflow_name.clear();
        }
        v
    };
    assert_eq!(strip(a), strip(b));
}

#[test]
fn kdl_mistakes_have_positions() {
    for (source, expected) in [
        (
            "workflow \"w\" {\n    job \"j\" runs-on=\"linux-test\" {\n        stepz \"x\"\n    }\n}\n",
            "w.kdl:3:9: job 'j': Unexpected value 'stepz'",
        ),
        (
            "workflow \"w\" {\n    job \"j\" runs-on=\"linux-test\" {\n        setup os=\"plan9\" { run \"x\" }\n    }\n}\n",
            "w.kdl:3:15: unknown setup os 'plan9'",
        ),
        ("workflow \"w\" {\n    job \"j\" {\n", "w.kdl:"),
        ("job \"j\" {}\n", "w.kdl:1:1: unexpected top-level node 'job'"),
        (
            "workflow \"w\" {\n    job \"j\" runs-on=\"linux-test\" {\n        step \"s\" uses=\"actions/cache@v4\"\n    }\n}\n",
            "job 'j': step 's' uses 'actions/cache@v4': only actions/checkout is supported",
        ),
    ] {
        let err = match workflow::parse(source, "w.kdl") {
            Ok(_) => panic!("expected a rejection:\n{source}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(expected), "expected {expected:?} in\n{err}");
    }
}
