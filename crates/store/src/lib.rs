//! The durable state of orchestrators and forge runners (brief §3.2, §3.5), behind one trait
//! implemented once (`sql`) for PostgreSQL and SQLite, which differ only in a small `Dialect`.
//!
//! What it keeps:
//! - **jobs and attempts**: a job is an ordered list of attempts; each attempt is owned by one
//!   orchestrator and goes queued → started → finished. Recording is idempotent, so a
//!   redelivered `JobRequest` records once, and starting reports an attempt that already
//!   started, so the orchestrator can fail it instead of running it twice.
//! - **leases**: each orchestrator renews its lease; a peer takes over its unfinished attempts
//!   only after the lease expired, atomically, so exactly one peer wins.
//! - **VM records** for the reconcile loop after a restart.
//! - **sequencer marks**: `seq` per job attempt, handed out atomically and persisted, so a
//!   restarted orchestrator continues after the last `seq` it sent.
//! - **tombstones** for cancels, so a job still queued never starts.
//! - **runner tasks**: a small JSON state per forge-runner task, for the runners' restarts.
//!
//! The store never sees a secret in clear: it keeps the `JobRequest` as the bus carried it,
//! secrets sealed.
//!
//! Every operation that stamps or compares a time takes `now` from the caller, so lease expiry
//! is tested by passing times rather than by sleeping. Times keep microseconds.
//!
//! ```no_run
//! # async fn example() -> Result<(), store::StoreError> {
//! let store = store::connect("sqlite:///var/lib/solstice/solstice.db").await?;
//! let lease = store.heartbeat("orch-1", time::OffsetDateTime::now_utc(), time::Duration::seconds(30)).await?;
//! # let _ = lease; Ok(()) }
//! ```

mod error;
mod migrations;
mod model;
mod postgres;
mod row;
mod sql;
mod sqlite;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use contract::{JobRequest, JobResult};
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

pub use error::StoreError;
pub use model::{
    Attempt, AttemptState, FinishOutcome, JobRecord, Lease, Recorded, RunnerTask, StartOutcome, TakeOver, Tombstone,
    TombstoneScope, VmRecord, VmState,
};

/// Opens the database `SOLSTICE_DATABASE_URL` names (`postgres://…`, `postgresql://…` or
/// `sqlite://…`) and applies the migrations it lacks.
///
/// A SQLite file is created if missing and runs in WAL mode with a busy timeout, through one
/// connection: the single writer. No retries here; the caller decides how long to wait for a
/// database that is down ([`StoreError::is_unavailable`]).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme {
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PgStore::connect(url).await?)),
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::connect(url).await?)),
        _ => Err(StoreError::UnsupportedUrl { scheme: scheme.chars().take(32).collect() }),
    }
}

/// The store seam: one implementation, generic over the database, passing the same behavioural
/// suite (`tests/it`) on PostgreSQL and on SQLite. Methods are grouped by what they keep, in the order of the module docs.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Records attempt `request.attempt` of job `request.job_id`, queued and owned by
    /// `orchestrator_id`, unless it was recorded before: then nothing changes and the
    /// existing attempt is returned. A new, later attempt replaces the job's request.
    async fn record_job(
        &self,
        request: &JobRequest,
        orchestrator_id: &str,
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError>;

    /// The job with every attempt, or `None` if it was never recorded.
    async fn job(&self, job_id: Ulid) -> Result<Option<JobRecord>, StoreError>;

    /// Moves a queued attempt to started, owned by `orchestrator_id`, in one transaction that
    /// also checks tombstones and ownership: a queued attempt owned by a peer is started only
    /// if that peer's lease expired (or it has none). Anything else is reported, not changed.
    async fn start_attempt(
        &self,
        job_id: Ulid,
        attempt: u32,
        orchestrator_id: &str,
        now: OffsetDateTime,
    ) -> Result<StartOutcome, StoreError>;

    /// Finishes an attempt `orchestrator_id` owns, queued or started (a queued one finishes
    /// when it was cancelled before it started). The first finish wins.
    async fn finish_attempt(
        &self,
        job_id: Ulid,
        attempt: u32,
        orchestrator_id: &str,
        result: JobResult,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<FinishOutcome, StoreError>;

    /// The queued and started attempts `orchestrator_id` owns, by job id and attempt: what it
    /// reconciles after a restart.
    async fn unfinished_attempts(&self, orchestrator_id: &str) -> Result<Vec<Attempt>, StoreError>;

    /// Creates or renews the lease of `orchestrator_id` until `now + ttl`.
    async fn heartbeat(&self, orchestrator_id: &str, now: OffsetDateTime, ttl: Duration) -> Result<Lease, StoreError>;

    /// Lets the lease of `orchestrator_id` expire at `now` (a clean shutdown), so peers may
    /// take over what it leaves unfinished without waiting for the ttl.
    async fn release_lease(&self, orchestrator_id: &str, now: OffsetDateTime) -> Result<(), StoreError>;

    /// The leases of other orchestrators that expired at or before `now`, by id.
    async fn expired_peers(&self, orchestrator_id: &str, now: OffsetDateTime) -> Result<Vec<Lease>, StoreError>;

    /// If the lease of `peer_id` expired at or before `now`, deletes it and gives every
    /// unfinished attempt of the peer to `orchestrator_id`, in one transaction: of two
    /// orchestrators taking over the same peer, one gets the attempts and the other
    /// [`TakeOver::NoLease`]. VM records stay with the peer: they describe its host.
    async fn take_over(
        &self,
        orchestrator_id: &str,
        peer_id: &str,
        now: OffsetDateTime,
    ) -> Result<TakeOver, StoreError>;

    /// Creates or replaces the record of `vm.vm_id`.
    async fn record_vm(&self, vm: &VmRecord, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Sets the state of a VM record; `false` if there is no such record.
    async fn set_vm_state(&self, vm_id: &str, state: VmState, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// The VM records of `orchestrator_id`, by VM id.
    async fn vms(&self, orchestrator_id: &str) -> Result<Vec<VmRecord>, StoreError>;

    /// Deletes a VM record once the VM is gone; `false` if there was none.
    async fn remove_vm(&self, vm_id: &str) -> Result<bool, StoreError>;

    /// Hands out the next `count` sequence numbers of a job attempt, atomically and durably:
    /// concurrent callers get disjoint ranges, and together the ranges leave no gap. The first
    /// `seq` of an attempt is 1. `count` 0 returns an empty range at the mark.
    async fn next_seqs(&self, job_id: Ulid, attempt: u32, count: u32) -> Result<Range<u64>, StoreError>;

    /// The next sequence number of a job attempt: [`Store::next_seqs`] with a count of 1.
    async fn next_seq(&self, job_id: Ulid, attempt: u32) -> Result<u64, StoreError> {
        Ok(self.next_seqs(job_id, attempt, 1).await?.start)
    }

    /// The high-water mark: the last sequence number handed out for the attempt, 0 if none.
    async fn last_seq(&self, job_id: Ulid, attempt: u32) -> Result<u64, StoreError>;

    /// Records a cancel. Cancelling again is a no-op: the first tombstone, which is returned,
    /// keeps its reason and time.
    async fn add_tombstone(
        &self,
        job_id: Ulid,
        scope: TombstoneScope,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Tombstone, StoreError>;

    /// The tombstone that covers this attempt (one for the attempt itself or for every
    /// attempt of the job; the older if both), or `None`.
    async fn tombstone(&self, job_id: Ulid, attempt: u32) -> Result<Option<Tombstone>, StoreError>;

    /// Deletes tombstones created before `before`; returns how many.
    async fn prune_tombstones(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Creates or replaces a forge runner's state for one of its tasks.
    async fn put_runner_task(
        &self,
        runner_id: &str,
        task_ref: &str,
        state: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn runner_task(&self, runner_id: &str, task_ref: &str) -> Result<Option<RunnerTask>, StoreError>;

    /// Every task state of a runner, by task ref.
    async fn runner_tasks(&self, runner_id: &str) -> Result<Vec<RunnerTask>, StoreError>;

    /// Deletes a runner's task state; `false` if there was none.
    async fn remove_runner_task(&self, runner_id: &str, task_ref: &str) -> Result<bool, StoreError>;

    /// Closes the connections, waiting for the ones in use to come back.
    async fn close(&self);
}
