//! What the suite functions build their cases from.

use contract::{ForgeKind, JobRequest, Origin};
use time::OffsetDateTime;
use time::macros::datetime;
use ulid::Ulid;

/// A fixed epoch for the suite; `at(s)` is `s` seconds after it.
pub fn at(seconds: i64) -> OffsetDateTime {
    datetime!(2026-03-01 12:00 UTC) + time::Duration::seconds(seconds)
}

/// Job ids that sort in creation order, so listings compare against `vec![a, b]` directly.
pub fn job_ids<const N: usize>() -> [Ulid; N] {
    let mut ids = [Ulid::nil(); N];
    let mut generator = ulid::Generator::new();
    for id in &mut ids {
        *id = generator.generate().expect("the ULID generator does not overflow in a test");
    }
    ids
}

/// A request as a Forgejo runner would publish it.
pub fn request(job_id: Ulid, attempt: u32) -> JobRequest {
    let origin = Origin {
        forge: ForgeKind::Forgejo,
        runner_id: "runner-1".into(),
        forge_ref: serde_json::json!({ "task_id": 4711 }),
    };
    let mut request = JobRequest::new(job_id, origin, "illumos-latest", "build");
    request.attempt = attempt;
    request.runs_on = vec!["illumos-latest".into(), "self-hosted".into()];
    request
}

pub const A: &str = "orchestrator-a";
pub const B: &str = "orchestrator-b";
pub const C: &str = "orchestrator-c";
