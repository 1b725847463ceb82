//! `runs-on` routing: exactly one non-generic label, and it must be a catalog label.

use crate::{Fixture, parse_ok};

/// `runs_on` is the YAML value of `runs-on`; `Ok(label)` or `Err(part of the message)`.
fn check(runs_on: &str, expected: Result<&str, &str>) {
    let source = format!(
        "on: push\njobs:\n  j:\n    runs-on: {runs_on}\n    strategy: {{matrix: {{os: [freebsd-14]}}}}\n    steps: [{{run: echo}}]\n"
    );
    let workflow = parse_ok(&source);
    let result = Fixture::new().expand(&workflow, "j");
    match (result, expected) {
        (Ok(requests), Ok(label)) => assert_eq!(requests[0].route_label, label, "runs-on: {runs_on}"),
        (Err(e), Err(part)) => {
            let text = e.to_string();
            assert!(text.contains(part), "runs-on: {runs_on}: expected {part:?} in {text}");
            assert!(text.starts_with(".github/workflows/ci.yml:4:14: job 'j': "), "{text}");
        }
        (Ok(requests), Err(part)) => {
            panic!("runs-on: {runs_on}: expected an error with {part:?}, routed to {}", requests[0].route_label)
        }
        (Err(e), Ok(label)) => panic!("runs-on: {runs_on}: expected {label}, got {e}"),
    }
}

#[test]
fn routing_table() {
    check("linux-test", Ok("linux-test"));
    check("[self-hosted, X64, linux, omnios-r151054]", Ok("omnios-r151054"));
    check("[self-hosted, ILLUMOS, ARM64, debian-12]", Ok("debian-12"));
    check("${{ matrix.os }}", Ok("freebsd-14"));
    check("${{ vars.OS }}", Ok("omnios-r151054"));
    check("[self-hosted, '${{ matrix.os }}']", Ok("freebsd-14"));
    check("${{ fromJSON('[\"self-hosted\", \"debian-12\"]') }}", Ok("debian-12"));
    check("{group: big, labels: [self-hosted, linux-test]}", Ok("linux-test"));
    check("{group: big, labels: debian-12}", Ok("debian-12"));
    check("ubuntu-latest", Err("runs-on label 'ubuntu-latest' is not in the image catalog"));
    check("[self-hosted, linux]", Err("names no image"));
    check("[linux-test, debian-12]", Err("2 non-generic labels ('linux-test', 'debian-12')"));
    check("{group: big}", Err("names only a runner group"));
}

#[test]
fn local_executor_accepts_any_label() {
    let workflow =
        parse_ok("on: push\njobs:\n  j:\n    runs-on: [self-hosted, ubuntu-latest]\n    steps: [{run: echo}]\n");
    let fixture = Fixture::new();
    let any = |_: &str| true;
    let mut input = fixture.input();
    input.is_catalog_label = &any;
    let requests = workflow::expand_job(&workflow, "j", &input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(requests[0].route_label, "ubuntu-latest");
}

#[test]
fn unknown_job_is_an_error() {
    let workflow = parse_ok("on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps: [{run: echo}]\n");
    let err = Fixture::new().expand(&workflow, "nope").map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("job 'nope': no such job"), "{err}");
}
