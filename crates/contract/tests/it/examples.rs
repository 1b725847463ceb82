//! `docs/examples/` shows every message of the contract. The files are generated from the values
//! built here; this test fails when code and docs drift. `SOLSTICE_UPDATE_EXAMPLES=1` rewrites them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use contract::{
    AgentEvent, Annotation, AnnotationLevel, CancelRequest, CheckoutRequest, ControlMessage, Event, ForgeKind,
    JobEvent, JobRequest, Origin, Outcome, RunDefaults, Sealed, SecretString, Section, StepCommand, StepKind, Template,
    Workspace,
};
use serde_json::json;
use time::macros::datetime;
use ulid::Ulid;

pub fn job_id() -> Ulid {
    "01JQ8Z6Y3W5T0ZJ2N4K7M9P1QX".parse().unwrap()
}

fn sealed(ciphertext: &str) -> Sealed {
    Sealed { key_id: "3f1c9a0b2d4e6f70".into(), nonce: "q83vEjRWeJCrze8S".into(), ciphertext: ciphertext.into() }
}

pub fn job_request() -> JobRequest {
    let mut req = JobRequest::new(
        job_id(),
        Origin { forge: ForgeKind::Forgejo, runner_id: "runner-7".into(), forge_ref: json!({ "task_id": 4711 }) },
        "omnios-r151054",
        "build",
    );
    req.runs_on = vec!["self-hosted".into(), "omnios-r151054".into()];
    req.name = "build (gcc14)".into();
    req.workflow_name = "ci".into();
    req.if_ = Some(Template::expr("github.event_name == 'push'"));
    req.env.workflow.insert("RUST_BACKTRACE".into(), Template::literal("1"));
    req.env.job.insert("CC".into(), Template::expr("matrix.cc"));
    req.defaults = RunDefaults { shell: Some("bash".into()), working_directory: None };
    req.timeout_minutes = Some(Template::literal(30));
    req.outputs.insert("version".into(), Template::expr("steps.ver.outputs.version"));
    req.contexts.github = json!({ "event_name": "push", "repository": "acme/widget", "sha": "9f2c1e7" });
    req.contexts.vars = json!({ "DEPLOY": "no" });
    req.contexts.matrix = json!({ "cc": "gcc14" });
    req.contexts.strategy = json!({ "fail-fast": true, "job-index": 0, "job-total": 1, "max-parallel": 1 });
    req.secrets.insert("API_TOKEN".into(), sealed("9mJ2vS0b8YQd1p6kR3Zr0w6Yx5c="));
    req.workspace = Workspace {
        repository_url: "https://codeberg.org/acme/widget.git".into(),
        repository: "acme/widget".into(),
        sha: "9f2c1e7".into(),
        git_ref: "refs/heads/main".into(),
        token: Some(sealed("Zx8aQ0f1c2d3e4f5a6b7c8d9e0f1")),
    };
    let mut checkout = StepCommand::run(0, "__actions_checkout", Template::literal(""));
    checkout.kind = StepKind::Checkout;
    checkout.uses = Some("actions/checkout@v4".into());
    checkout.run = None;
    checkout.with.insert("fetch-depth".into(), Template::literal(1));
    let mut version =
        StepCommand::run(1, "ver", Template::literal("echo \"version=$(cat VERSION)\" >> \"$GITHUB_OUTPUT\""));
    version.name = Some(Template::literal("Read version"));
    let mut test = StepCommand::run(2, "__run", Template::expr("format('make test CC={0}', matrix.cc)"));
    test.forge_ref = Some("4b6e0f7c-1d2a-4c3b-9e8f-7a6b5c4d3e2f".into());
    test.env.insert("TOKEN".into(), Template::expr("secrets.API_TOKEN"));
    test.continue_on_error = Some(Template::literal(false));
    test.timeout_minutes = Some(Template::literal(20));
    test.if_ = Some(Template::expr("success() && matrix.cc != 'none'"));
    req.steps = vec![checkout, version, test];
    req
}

pub fn job_events() -> Vec<JobEvent> {
    let at = datetime!(2026-11-23 16:00:00 UTC);
    let events = vec![
        Event::Accepted { orchestrator: "orch-a".into() },
        Event::VmBooting { label: "omnios-r151054".into() },
        Event::VmReady { label: "omnios-r151054".into() },
        Event::Log { section: Section::Setup, first_line: 1, lines: vec!["Runner: workflow-runner 0.1.0".into()] },
        Event::StepStarted { index: 2, name: "Run make test CC=gcc14".into() },
        Event::Log {
            section: Section::Step(2),
            first_line: 1,
            lines: vec!["cc -o widget widget.c".into(), "ok".into()],
        },
        Event::Annotation(Annotation {
            level: AnnotationLevel::Warning,
            message: "unused variable 'x'".into(),
            step: Some(2),
            title: None,
            file: Some("widget.c".into()),
            line: Some(12),
            end_line: None,
            col: Some(7),
            end_column: None,
        }),
        Event::StepSummary { index: 2, markdown: "### Tests\n42 passed".into() },
        Event::StepFinished {
            index: 2,
            name: "Run make test CC=gcc14".into(),
            outcome: Outcome::Failure,
            conclusion: Outcome::Success,
            outputs: BTreeMap::from([("report".into(), "tests.xml".into())]),
        },
        Event::Heartbeat,
        Event::CheckoutRequested { index: 0, request: CheckoutRequest { fetch_depth: Some(1), ..Default::default() } },
        Event::Log { section: Section::Complete, first_line: 1, lines: vec!["Cleaning up orphan processes".into()] },
        Event::JobFinished {
            result: Outcome::Success,
            outputs: BTreeMap::from([("version".into(), "1.4.2".into())]),
            error: None,
        },
    ];
    events
        .into_iter()
        .zip(1u64..)
        .map(|(event, seq)| JobEvent { job_id: job_id(), attempt: 1, seq, at, event })
        .collect()
}

pub fn agent_stdin() -> Vec<ControlMessage> {
    vec![
        ControlMessage::Start {
            request: Box::new(job_request()),
            bus_key: SecretString::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        },
        ControlMessage::WorkspaceChunk { index: 0, data: "dGFyIGRhdGE=".into() },
        ControlMessage::WorkspaceEnd { index: 0, error: None },
        ControlMessage::Cancel { reason: "cancelled on the forge".into() },
    ]
}

pub fn agent_stdout() -> Vec<AgentEvent> {
    job_events()
        .into_iter()
        .filter(|e| {
            !matches!(
                e.event,
                Event::Accepted { .. } | Event::VmBooting { .. } | Event::VmReady { .. } | Event::Heartbeat
            )
        })
        .map(|e| AgentEvent { at: e.at, event: e.event })
        .collect()
}

/// A forge runner cancelling the first attempt, as it does when the run is cancelled on the forge.
pub fn cancel() -> CancelRequest {
    CancelRequest { job_id: job_id(), attempt: Some(1), reason: "cancelled on the forge".into() }
}

pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples")
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap() + "\n"
}

fn lines<T: serde::Serialize>(values: &[T]) -> String {
    values.iter().map(|v| serde_json::to_string(v).unwrap() + "\n").collect()
}

pub fn rendered() -> Vec<(&'static str, String)> {
    vec![
        ("job-request.json", pretty(&job_request())),
        ("job-events.jsonl", lines(&job_events())),
        ("agent-stdin.jsonl", lines(&agent_stdin())),
        ("agent-stdout.jsonl", lines(&agent_stdout())),
        ("cancel.json", pretty(&cancel())),
    ]
}

#[test]
fn docs_examples_are_what_the_code_writes() {
    let update = std::env::var_os("SOLSTICE_UPDATE_EXAMPLES").is_some();
    for (name, text) in rendered() {
        let path = examples_dir().join(name);
        if update {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        assert_eq!(on_disk, text, "{name} differs from what the code writes; rerun with SOLSTICE_UPDATE_EXAMPLES=1");
    }
}

#[test]
fn examples_round_trip() {
    let req: JobRequest = serde_json::from_str(&pretty(&job_request())).unwrap();
    assert_eq!(req, job_request());
    for event in job_events() {
        let back: JobEvent = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back, event);
    }
    for msg in agent_stdin() {
        let back: ControlMessage = serde_json::from_str(&serde_json::to_string(&msg).unwrap()).unwrap();
        assert_eq!(back, msg);
    }
    let back: CancelRequest = serde_json::from_str(&pretty(&cancel())).unwrap();
    assert_eq!(back, cancel());
}

#[test]
fn a_cancel_without_attempt_applies_to_every_attempt() {
    let any: CancelRequest =
        serde_json::from_str(r#"{"job_id":"01JQ8Z6Y3W5T0ZJ2N4K7M9P1QX","reason":"user asked"}"#).unwrap();
    assert_eq!(any.attempt, None);
    assert!(any.applies_to(job_id(), 1) && any.applies_to(job_id(), 2));
    assert!(!any.applies_to(Ulid::nil(), 1));
    assert_eq!(
        serde_json::to_value(&any).unwrap(),
        json!({"job_id": "01JQ8Z6Y3W5T0ZJ2N4K7M9P1QX", "reason": "user asked"})
    );
    assert!(cancel().applies_to(job_id(), 1) && !cancel().applies_to(job_id(), 2));
}

#[test]
fn template_wire_shape() {
    assert_eq!(serde_json::to_value(Template::literal("x")).unwrap(), json!({ "literal": "x" }));
    assert_eq!(serde_json::to_value(Template::expr("a.b")).unwrap(), json!({ "expr": "a.b" }));
    assert_eq!(serde_json::to_value(Section::Step(3)).unwrap(), json!({ "step": 3 }));
    assert_eq!(serde_json::to_value(Section::Setup).unwrap(), json!("setup"));
}
