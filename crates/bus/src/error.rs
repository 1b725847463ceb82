use std::time::Duration;

/// What can go wrong on the bus. Messages are fragments that fit after "failed to …".
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A `mandatory` publish came back unroutable (basic.return): no queue is bound for the label.
    #[error("publish job {job_id}: no orchestrator serves label {label}")]
    NoConsumer { label: String, job_id: ulid::Ulid },
    #[error("consume jobs: the credit must be at least 1")]
    ZeroCredit,
    #[error("consume jobs: no label given")]
    NoLabels,
    /// The delivery's consumer (or its channel) is gone, so the bus already queued the message
    /// again.
    #[error("settle delivery {tag}: its consumer is gone and the message was queued again")]
    ConsumerGone { tag: u64 },
    #[error("use the bus: it is closed")]
    Closed,
    /// The broker could not be reached, or kept failing, for the whole retry budget. Binaries
    /// exit with 3 on it (a dependency unreachable after retries); see [`BusError::is_unavailable`].
    #[error("reach the broker at {broker}: unavailable after {attempts} attempts in {}s", waited.as_secs())]
    Unavailable {
        /// Where, without credentials.
        broker: String,
        attempts: u32,
        waited: Duration,
        #[source]
        last: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `SOLSTICE_AMQP_URL` is missing or not an AMQP URL: a configuration error (exit 2).
    #[error("configure the bus: {reason}")]
    Config { reason: String },
    /// The broker refused an operation for good (for example a queue that exists with other
    /// arguments); retrying would not help.
    #[error("{what}: the broker refused it")]
    Refused {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("encode a message for the bus")]
    Encode(#[source] serde_json::Error),
}

impl BusError {
    /// Whether this is the "unavailable after retries" error that binaries map to exit 3.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BusError::Unavailable { .. })
    }
}
