//! The job contract (brief §3.1–3.3): what a forge runner publishes (`JobRequest`,
//! `CancelRequest`), what the orchestrator relays back (`JobEvent`), how secrets travel
//! (`Sealed`), and the agent's stdin/stdout messages. Pure data: no IO, no async.
//!
//! Compatibility rule: readers tolerate unknown fields, writers add fields only with serde
//! defaults, and a change a reader cannot ignore bumps [`SCHEMA_VERSION`].

mod agent;
mod cancel;
mod event;
mod request;
mod sealed;
mod template;

pub use agent::{AgentEvent, ControlMessage};
pub use cancel::CancelRequest;
pub use event::{Annotation, AnnotationLevel, Event, JobEvent, JobResult, Outcome, Section};
pub use request::{
    CheckoutRequest, Contexts, EnvLayers, ForgeKind, JobRequest, Origin, RunDefaults, StepCommand, StepKind, Workspace,
};
pub use sealed::{BusKey, KeyError, OpenSecretsError, SealError, Sealed, SecretString};
pub use template::Template;

/// Version of the JSON shape of [`JobRequest`] and [`JobEvent`].
pub const SCHEMA_VERSION: u32 = 1;

/// Timestamps on the wire are RFC 3339 in UTC.
pub type Timestamp = time::OffsetDateTime;

/// The current time, as every producer of events stamps it.
pub fn now() -> Timestamp {
    time::OffsetDateTime::now_utc()
}
