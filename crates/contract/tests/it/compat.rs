//! Compatibility between versions (brief §3.1: unknown fields tolerated).
//!
//! - new reader, old data: `tests/golden/v1/` holds the examples as version 1 wrote them; they
//!   are never regenerated, and the current types must keep reading them.
//! - old reader, new data: `v1` below is a frozen reader of what version 1 needed; it must keep
//!   reading what the current code writes, including fields added since.
//! - unknown fields and unknown event/control types, as a newer writer would send them.

use std::path::PathBuf;

use contract::{AgentEvent, CancelRequest, ControlMessage, Event, JobEvent, JobRequest};
use serde_json::Value;

use crate::examples;

fn golden(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A reader as version 1 shipped it: only the fields it relied on, everything else ignored.
mod v1 {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct JobRequest {
        pub schema_version: u32,
        pub job_id: String,
        pub attempt: u32,
        pub route_label: String,
        pub origin: Origin,
        pub steps: Vec<Step>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct Origin {
        pub forge: String,
        pub runner_id: String,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct Step {
        pub index: u32,
        pub id: String,
        pub kind: String,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct CancelRequest {
        pub job_id: String,
        pub attempt: Option<u32>,
        pub reason: String,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct JobEvent {
        pub job_id: String,
        pub attempt: u32,
        pub seq: u64,
        #[serde(rename = "type")]
        pub kind: String,
    }
}

#[test]
fn new_reader_reads_v1_data() {
    let req: JobRequest = serde_json::from_str(&golden("job-request.json")).unwrap();
    assert_eq!(req.schema_version, 1);
    assert_eq!(req.route_label, "omnios-r151054");
    assert_eq!(req.steps.len(), 3);

    let events: Vec<JobEvent> = golden("job-events.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.first().map(|e| e.seq), Some(1));
    assert!(matches!(events.last().map(|e| &e.event), Some(Event::JobFinished { .. })));
    assert!(events.iter().all(|e| !matches!(e.event, Event::Unknown)));

    for line in golden("agent-stdin.jsonl").lines() {
        let msg: ControlMessage = serde_json::from_str(line).unwrap();
        assert!(!matches!(msg, ControlMessage::Unknown));
    }
    for line in golden("agent-stdout.jsonl").lines() {
        let _: AgentEvent = serde_json::from_str(line).unwrap();
    }

    let cancel: CancelRequest = serde_json::from_str(&golden("cancel.json")).unwrap();
    assert_eq!(cancel, examples::cancel());
}

#[test]
fn v1_reader_reads_what_we_write_now() {
    let written = serde_json::to_string(&examples::job_request()).unwrap();
    let old: v1::JobRequest = serde_json::from_str(&written).unwrap();
    assert_eq!(old.route_label, "omnios-r151054");
    assert_eq!(old.steps.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["checkout", "run", "run"]);

    for event in examples::job_events() {
        let old: v1::JobEvent = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(old.seq, event.seq);
    }

    let old: v1::CancelRequest = serde_json::from_str(&serde_json::to_string(&examples::cancel()).unwrap()).unwrap();
    assert_eq!((old.job_id.as_str(), old.attempt), ("01JQ8Z6Y3W5T0ZJ2N4K7M9P1QX", Some(1)));
}

/// Adds `"added_later": {...}` to every struct-shaped object, as a newer writer might. Maps of
/// user data (env, outputs, secrets, `with`, contexts) are walked into but not extended, and
/// literal JSON is left alone: an extra entry there would be data, not an unknown field.
fn with_unknown_fields(value: &mut Value, parent_key: &str, in_step: bool) {
    const USER_MAPS: &[&str] = &["workflow", "job", "outputs", "secrets", "with"];
    // Sections are values (`"setup"`, `{"step": 2}`), not structs a writer would extend.
    const OPAQUE: &[&str] = &["literal", "contexts", "forge_ref", "lines", "section"];
    if OPAQUE.contains(&parent_key) {
        return;
    }
    match value {
        Value::Object(map) => {
            let is_user_map = USER_MAPS.contains(&parent_key) || (in_step && parent_key == "env");
            for (k, v) in map.iter_mut() {
                let child_in_step = in_step || parent_key == "steps";
                let key = if is_user_map { "" } else { k.as_str() };
                with_unknown_fields(v, key, child_in_step);
            }
            if !is_user_map {
                map.insert("added_later".into(), serde_json::json!({ "x": [1, 2] }));
            }
        }
        Value::Array(items) => {
            for item in items {
                with_unknown_fields(item, parent_key, in_step);
            }
        }
        _ => {}
    }
}

#[test]
fn unknown_fields_are_tolerated() {
    let mut req = serde_json::to_value(examples::job_request()).unwrap();
    with_unknown_fields(&mut req, "", false);
    assert!(req["steps"][2]["env"]["TOKEN"]["added_later"].is_object(), "templates gained a field");
    let read: JobRequest = serde_json::from_value(req).unwrap();
    assert_eq!(read, examples::job_request());

    for event in examples::job_events() {
        let mut value = serde_json::to_value(&event).unwrap();
        with_unknown_fields(&mut value, "", false);
        let read: JobEvent = serde_json::from_value(value).unwrap();
        assert_eq!(read.seq, event.seq);
    }

    let mut cancel = serde_json::to_value(examples::cancel()).unwrap();
    with_unknown_fields(&mut cancel, "", false);
    let read: CancelRequest = serde_json::from_value(cancel).unwrap();
    assert_eq!(read, examples::cancel());
}

#[test]
fn unknown_event_and_control_types_are_skippable() {
    let line = r#"{"job_id":"01JQ8Z6Y3W5T0ZJ2N4K7M9P1QX","attempt":1,"seq":9,"at":"2026-11-23T16:00:00Z","type":"vm_migrated","to":"host-b"}"#;
    let event: JobEvent = serde_json::from_str(line).unwrap();
    assert_eq!(event.event, Event::Unknown);
    assert_eq!(event.seq, 9);

    let msg: ControlMessage = serde_json::from_str(r#"{"type":"pause","for_ms":10}"#).unwrap();
    assert_eq!(msg, ControlMessage::Unknown);
}
