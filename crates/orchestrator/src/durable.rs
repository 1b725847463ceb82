//! The orchestrator's durable side (brief §3.5), over the [`store`]: its lease, what it does
//! with a delivered request before running it, and the reconcile passes that fail attempts
//! whose agent died with an orchestrator (its own previous incarnation, or a peer whose lease
//! expired). A started attempt is never run again: its VM's SSH key lived only in the memory of
//! the process that died.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, BusError};
use contract::{Event, JobRequest, JobResult};
use store::{StartOutcome, Store, StoreError, TakeOver};
use time::OffsetDateTime;
use ulid::Ulid;

use crate::orchestrator::Inner;
use crate::sequencer::Sequencer;

/// The error text of an attempt whose agent died with its orchestrator.
pub const RESTARTED: &str = "the orchestrator restarted; the job's SSH key died with the old process — re-run the job";

/// The store an orchestrator records its jobs in, and how long its lease lives.
#[derive(Debug, Clone)]
pub struct Durability {
    pub store: Arc<dyn Store>,
    /// How long the lease lives without a heartbeat. It is renewed every third of that, and
    /// peers' leases are checked for expiry as often.
    pub lease_ttl: Duration,
}

impl Durability {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Durability { store, lease_ttl: Duration::from_secs(30) }
    }
}

/// Why [`crate::Orchestrator::start_durable`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("start the orchestrator")]
    Bus(#[source] BusError),
    #[error("start the orchestrator")]
    Store(#[source] StoreError),
}

impl StartError {
    /// Whether the broker or the database was out of reach (exit 3), not refusing.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StartError::Bus(error) => error.is_unavailable(),
            StartError::Store(error) => error.is_unavailable(),
        }
    }
}

/// What to do with a delivered request.
pub(crate) enum Admit {
    /// Its attempt is started in the store and belongs to this orchestrator: run it.
    Run,
    /// Handled without running (finished before, failed, cancelled, run by a live peer): ack.
    Settled,
    /// The store cannot decide now: give it back.
    Requeue,
    /// It can never run: dead-letter it, with the reason.
    Reject(String),
}

pub(crate) fn ttl(lease_ttl: Duration) -> time::Duration {
    time::Duration::try_from(lease_ttl).unwrap_or(time::Duration::seconds(30))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Records the request's job and attempt, then starts the attempt in the store, which says
/// whether it may run here.
pub(crate) async fn admit<B: Bus, E>(inner: &Inner<B, E>, request: &JobRequest, redelivered: bool) -> Admit {
    let Some(durable) = &inner.durable else { return Admit::Run };
    let store = &durable.store;
    let me = inner.config.id.as_str();
    let (job_id, attempt) = (request.job_id, request.attempt);
    let outcome = match store.record_job(request, me, now()).await {
        Ok(_) => store.start_attempt(job_id, attempt, me, now()).await,
        Err(error) => Err(error),
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(StoreError::Invalid { detail, .. }) => return Admit::Reject(detail),
        Err(error) => {
            tracing::error!(%job_id, %error, "the store could not record the job; it goes back to the queue");
            return Admit::Requeue;
        }
    };
    let runner = request.origin.runner_id.clone();
    match outcome {
        StartOutcome::Started => Admit::Run,
        StartOutcome::AlreadyFinished { .. } => {
            tracing::info!(%job_id, attempt, redelivered, "the attempt finished before; dropping the request");
            Admit::Settled
        }
        StartOutcome::Cancelled(tombstone) => {
            let mut seq = Sequencer::new(inner.bus.clone(), Some(store.clone()), runner, job_id, attempt);
            seq.emit(Event::Accepted { orchestrator: me.to_owned() }).await;
            let text = format!("cancelled before it started: {}", tombstone.reason);
            finish(inner, &mut seq, JobResult::Cancelled, text).await;
            Admit::Settled
        }
        StartOutcome::AlreadyStarted { orchestrator_id, .. } => {
            if orchestrator_id == me && inner.registry().is_running(job_id, attempt) {
                // Delivered again while it runs here (the channel was re-established).
                return Admit::Settled;
            }
            if orchestrator_id != me {
                match store.take_over(me, &orchestrator_id, now()).await {
                    Ok(TakeOver::LeaseAlive { .. }) => {
                        tracing::info!(%job_id, peer = %orchestrator_id, "a live peer runs this attempt");
                        return Admit::Settled;
                    }
                    Ok(TakeOver::Taken(attempts)) => {
                        fail_started(inner, &attempts).await;
                        return Admit::Settled;
                    }
                    Ok(TakeOver::NoLease) => {}
                    Err(error) => {
                        tracing::error!(%job_id, %error, "the store could not check the peer's lease");
                        return Admit::Requeue;
                    }
                }
            }
            fail_lost(inner, runner, job_id, attempt).await;
            Admit::Settled
        }
        StartOutcome::OwnedByPeer { orchestrator_id } => {
            // Recorded by a live peer that lost its delivery before starting it: it goes back
            // to the queue, for that peer or for whoever takes its attempts over.
            tracing::info!(%job_id, peer = %orchestrator_id, "queued at a live peer; giving the request back");
            Admit::Requeue
        }
        StartOutcome::NotRecorded => Admit::Requeue,
    }
}

/// Publishes the attempt's `job_finished` and records the finish in the store.
pub(crate) async fn finish<B: Bus, E>(inner: &Inner<B, E>, seq: &mut Sequencer<B>, result: JobResult, text: String) {
    tracing::warn!(result = result.as_str(), error = %text, "job finished by the orchestrator");
    seq.emit(Event::JobFinished { result, outputs: BTreeMap::new(), error: Some(text.clone()) }).await;
    record_finish(inner, seq.job_id(), seq.attempt(), result, Some(text.as_str())).await;
}

/// Records how an attempt this orchestrator owns ended.
pub(crate) async fn record_finish<B, E>(
    inner: &Inner<B, E>,
    job_id: Ulid,
    attempt: u32,
    result: JobResult,
    error: Option<&str>,
) {
    let Some(durable) = &inner.durable else { return };
    match durable.store.finish_attempt(job_id, attempt, &inner.config.id, result, error, now()).await {
        Ok(store::FinishOutcome::Finished) => {}
        Ok(other) => tracing::warn!(%job_id, attempt, ?other, "the store kept another end for the attempt"),
        Err(error) => tracing::error!(%job_id, attempt, %error, "recording the end of the attempt failed"),
    }
}

/// Fails an attempt whose agent died with its orchestrator, telling its runner.
async fn fail_lost<B: Bus, E>(inner: &Inner<B, E>, runner: String, job_id: Ulid, attempt: u32) {
    let Some(durable) = &inner.durable else { return };
    let mut seq = Sequencer::new(inner.bus.clone(), Some(durable.store.clone()), runner, job_id, attempt);
    finish(inner, &mut seq, JobResult::Failure, RESTARTED.to_owned()).await;
}

/// Fails the started attempts among `attempts` (now this orchestrator's); queued ones never
/// ran and are left for their request's redelivery.
async fn fail_started<B: Bus, E>(inner: &Inner<B, E>, attempts: &[store::Attempt]) {
    let Some(durable) = &inner.durable else { return };
    for attempt in attempts {
        if attempt.state != store::AttemptState::Started || inner.registry().is_running(attempt.job_id, attempt.attempt)
        {
            continue;
        }
        let runner = match durable.store.job(attempt.job_id).await {
            Ok(Some(record)) => record.runner_id,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(job_id = %attempt.job_id, %error, "reading a lost attempt's job failed");
                continue;
            }
        };
        tracing::warn!(job_id = %attempt.job_id, attempt = attempt.attempt, "failing an attempt whose agent is gone");
        fail_lost(inner, runner, attempt.job_id, attempt.attempt).await;
    }
}

/// After a start: the attempts this orchestrator's previous incarnation started are failed.
pub(crate) async fn reconcile<B: Bus, E>(inner: &Inner<B, E>) -> Result<(), StoreError> {
    let Some(durable) = &inner.durable else { return Ok(()) };
    let attempts = durable.store.unfinished_attempts(&inner.config.id).await?;
    fail_started(inner, &attempts).await;
    Ok(())
}

/// Renews the lease and takes over peers whose lease expired, every third of the ttl.
pub(crate) async fn keep_lease<B: Bus, E>(inner: Arc<Inner<B, E>>) {
    let Some(durable) = &inner.durable else { return };
    let every = (durable.lease_ttl / 3).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let me = inner.config.id.as_str();
        if let Err(error) = durable.store.heartbeat(me, now(), ttl(durable.lease_ttl)).await {
            tracing::error!(%error, "renewing the lease failed; peers take over once it expires");
            continue;
        }
        let peers = match durable.store.expired_peers(me, now()).await {
            Ok(peers) => peers,
            Err(error) => {
                tracing::warn!(%error, "listing expired peers failed");
                continue;
            }
        };
        for peer in peers {
            match durable.store.take_over(me, &peer.orchestrator_id, now()).await {
                Ok(TakeOver::Taken(attempts)) => {
                    tracing::warn!(peer = %peer.orchestrator_id, attempts = attempts.len(), "took over an expired peer");
                    fail_started(&inner, &attempts).await;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(peer = %peer.orchestrator_id, %error, "taking over a peer failed"),
            }
        }
    }
}
