//! `compose.yml`, `Dockerfile` and the systemd units (`deploy/systemd/`), checked without Docker
//! or systemd: the compose file has the shape the Compose Specification requires of what we use,
//! every reference in it resolves, every `SOLSTICE_*` name it sets is one our binaries read, and
//! the daemons get the variables they cannot start without (brief §3.6).
//!
//! Each rule is a function returning the problems it finds, so the rules are also tested on small
//! broken files that must fail.

mod rules;
mod systemd;
mod workspace;

use std::collections::BTreeSet;

use rules::{DAEMONS, all_problems, binary, environment, is_duration, services};
use serde_yaml_ng::{Mapping, Value};

/// `compose.yml` as Compose sees it: YAML with its `<<` merge keys applied.
fn load(text: &str) -> Mapping {
    let mut value: Value = serde_yaml_ng::from_str(text).expect("compose.yml is YAML");
    value.apply_merge().expect("compose.yml's merge keys resolve");
    match value {
        Value::Mapping(mapping) => mapping,
        other => panic!("compose.yml is not a mapping: {other:?}"),
    }
}

fn repo_compose() -> Mapping {
    let path = workspace::root().join("compose.yml");
    load(&std::fs::read_to_string(&path).expect("compose.yml at the repository root"))
}

#[test]
fn compose_yml_follows_the_rules() {
    let problems = all_problems(&repo_compose());
    assert!(problems.is_empty(), "compose.yml:\n{}", problems.join("\n"));
}

#[test]
fn compose_yml_runs_every_daemon_with_kvm_for_the_orchestrator() {
    let doc = repo_compose();
    let bins: BTreeSet<String> = services(&doc).iter().filter_map(|(_, service)| binary(service)).collect();
    for daemon in DAEMONS {
        assert!(bins.contains(daemon), "no service runs {daemon}");
    }
    let (_, orchestrator) = services(&doc)
        .into_iter()
        .find(|(_, service)| binary(service).as_deref() == Some("orchestrator"))
        .expect("an orchestrator service");
    let devices: Vec<&str> = orchestrator
        .get("devices")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(devices.iter().any(|d| d.starts_with("/dev/kvm")), "the orchestrator gets /dev/kvm: {devices:?}");
    // The healthcheck probes the address the daemon serves /healthz on.
    let env = environment(orchestrator);
    let (_, addr) = env.iter().find(|(k, _)| k == "SOLSTICE_METRICS_ADDR").expect("the orchestrator serves /healthz");
    let port = addr.rsplit(':').next().expect("ADDRESS:PORT");
    let test = format!("{:?}", orchestrator.get("healthcheck").and_then(|c| c.get("test")));
    assert!(test.contains(&format!(":{port}/healthz")), "the healthcheck probes port {port}: {test}");
}

/// Each rule fails on a small file that breaks it, naming what is wrong.
#[test]
fn each_rule_names_what_a_broken_file_gets_wrong() {
    let cases: [(&str, &str); 10] = [
        ("version: '3'\nservices:\n  a:\n    image: x\n", "top-level key \"version\""),
        ("services:\n  a:\n    restart: always\n", "a: neither image nor build"),
        ("services:\n  a:\n    build: no-such-dir\n", "build no-such-dir/Dockerfile does not exist"),
        (
            "services:\n  a:\n    image: x\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      every: 5s\n",
            "key \"every\"",
        ),
        (
            "services:\n  a:\n    image: x\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 5 s\n",
            "interval",
        ),
        ("services:\n  a:\n    image: x\n    volumes: [\"data:/d\"]\n", "volume \"data\" is not declared"),
        (
            "services:\n  a:\n    image: x\n    depends_on:\n      b:\n        condition: service_healthy\n",
            "not a service",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on:\n      b:\n        condition: service_healthy\n  b:\n    image: y\n",
            "b to be healthy, but it has no healthcheck",
        ),
        (
            "services:\n  a:\n    image: x\n    entrypoint: [orchestrator]\n    environment:\n      SOLSTICE_NO_SUCH_SETTING: 1\n",
            "SOLSTICE_NO_SUCH_SETTING is read by no binary",
        ),
        (
            "services:\n  a:\n    image: x\n    entrypoint: [forgejo-runner]\n    environment:\n      SOLSTICE_AMQP_URL: amqp://u:p@broker:5672/%2f\n",
            "forgejo-runner exits 2 without SOLSTICE_BUS_KEY",
        ),
    ];
    for (text, expected) in cases {
        let problems = all_problems(&load(text));
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{text}\nexpected a problem with {expected:?}, got {problems:?}"
        );
    }
    // The host and state checks: the broker URL above names no service of that file, and the
    // daemon keeps its state nowhere.
    let problems = all_problems(&load(cases[9].0));
    assert!(problems.iter().any(|p| p.contains("SOLSTICE_AMQP_URL does not name a service")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("needs SOLSTICE_STATE_DIR on a volume")), "{problems:?}");
    let bind = "services:\n  a:\n    image: x\n    entrypoint: [orchestrator]\n    volumes: [\"./s:/state\"]\n    \
                environment:\n      SOLSTICE_STATE_DIR: /state\n";
    let problems = all_problems(&load(bind));
    assert!(
        problems.iter().any(|p| p.contains("no named volume is mounted at SOLSTICE_STATE_DIR /state")),
        "{problems:?}"
    );
}

#[test]
fn compose_durations() {
    for good in ["10s", "1m30s", "1.5s", "500ms", "2h", "5m"] {
        assert!(is_duration(good), "{good}");
    }
    for bad in ["", "10", "s", "5 s", "10sec"] {
        assert!(!is_duration(bad), "{bad}");
    }
}
