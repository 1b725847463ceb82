//! `needs`: ordering, unknown jobs and cycles, with file:line:col.

use crate::{parse_err, parse_ok};

fn jobs(spec: &[(&str, &str)]) -> String {
    let mut out = String::from("on: push\njobs:\n");
    for (key, needs) in spec {
        out.push_str(&format!("  {key}:\n"));
        if !needs.is_empty() {
            out.push_str(&format!("    needs: {needs}\n"));
        }
        out.push_str("    runs-on: linux-test\n    steps: [{run: echo}]\n");
    }
    out
}

#[test]
fn job_keys_come_after_their_needs() {
    for (spec, expected) in [
        (vec![("a", ""), ("b", "a")], vec!["a", "b"]),
        (vec![("deploy", "[test, build]"), ("test", "build"), ("build", "")], vec!["build", "test", "deploy"]),
        (vec![("x", ""), ("y", ""), ("z", "[y, x]")], vec!["x", "y", "z"]),
        (vec![("late", "early"), ("other", ""), ("early", "")], vec!["other", "early", "late"]),
    ] {
        let workflow = parse_ok(&jobs(&spec));
        assert_eq!(workflow.job_keys(), expected, "{spec:?}");
    }
    let workflow = parse_ok(&jobs(&[("a", ""), ("b", "[a]")]));
    assert_eq!(workflow.needs("b"), ["a".to_string()]);
    assert!(workflow.needs("a").is_empty());
    assert!(workflow.needs("nope").is_empty());
}

#[test]
fn broken_graphs_are_rejected_with_positions() {
    for (spec, expected) in [
        (
            vec![("one", ""), ("two", "[one, three]"), ("three", "two")],
            vec![
                "ci.yml:7:18: job 'two': Job 'two' depends on job 'three' which creates a cycle in the dependency graph.",
                "ci.yml:11:12: job 'three': Job 'three' depends on job 'two' which creates a cycle in the dependency graph.",
            ],
        ),
        (
            vec![("start", ""), ("one", "ghost")],
            vec!["ci.yml:7:12: job 'one': Job 'one' depends on unknown job 'ghost'."],
        ),
        (
            vec![("a", "b"), ("b", "a")],
            vec!["ci.yml:3:3: The workflow must contain at least one job with no dependencies."],
        ),
    ] {
        let err = parse_err(&jobs(&spec));
        for line in expected {
            assert!(err.contains(line), "{spec:?}: expected {line:?} in\n{err}");
        }
    }
}
