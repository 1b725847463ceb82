/// What can go wrong on the bus. Messages are fragments that fit after "failed to …".
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The analogue of a `mandatory` publish coming back unroutable.
    #[error("publish job {job_id}: no orchestrator serves label {label}")]
    NoConsumer { label: String, job_id: ulid::Ulid },
    #[error("consume jobs: the credit must be at least 1")]
    ZeroCredit,
    #[error("consume jobs: no label given")]
    NoLabels,
    /// The delivery's consumer was dropped, so the bus already queued the message again.
    #[error("settle delivery {tag}: its consumer is gone and the message was queued again")]
    ConsumerGone { tag: u64 },
    #[error("use the bus: it is closed")]
    Closed,
}
