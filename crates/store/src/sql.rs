//! The store written once for both databases: [`SqlStore`] implements every `Store` method over
//! sqlx, generic in a [`Dialect`] that names the database and says what differs between the
//! two. The rest of the SQL is shared text: PostgreSQL and SQLite agree on `$1` placeholders,
//! `ON CONFLICT … DO NOTHING / DO UPDATE`, `EXCLUDED` and `RETURNING`.

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use contract::{JobRequest, JobResult};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Transaction, Type};
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

use crate::row::{self, AttemptRow, JobRow, RunnerTaskRow, TombstoneRow, VmRow, attempt_columns, check, vm_columns};
use crate::{
    Attempt, AttemptState, FinishOutcome, JobRecord, Lease, Recorded, RunnerTask, StartOutcome, Store, StoreError,
    TakeOver, Tombstone, TombstoneScope, VmRecord, VmState,
};

/// What differs between the databases, and nothing else: the driver, how a timestamp is kept,
/// how a transaction begins, and the few statements whose text cannot be shared.
pub(crate) trait Dialect: fmt::Debug + Send + Sync + 'static {
    type Db: Database;

    /// A timestamp as this database binds and reads it.
    type Time: From<OffsetDateTime>
        + Into<OffsetDateTime>
        + Type<Self::Db>
        + for<'q> Encode<'q, Self::Db>
        + for<'r> Decode<'r, Self::Db>
        + Send
        + Sync
        + Unpin;

    /// How many rows a statement inserted, updated or deleted (sqlx has no trait for it).
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// The statement that begins a transaction, or `None` for the driver's own `BEGIN`.
    const BEGIN: Option<&'static str>;

    // The statements below differ only where PostgreSQL needs a cast between JSON and text (SQLite
    // keeps JSON as TEXT) or a row lock (SQLite has the single writer instead).

    /// Inserts a job unless it exists: `$1` job id, `$2` attempt, `$3` label, `$4` runner id,
    /// `$5` origin JSON, `$6` request JSON, `$7` now.
    const INSERT_JOB: &'static str;
    /// Makes a later attempt the job's current one; the same binds as [`Dialect::INSERT_JOB`].
    const UPDATE_JOB: &'static str;
    /// The job's row, the request as text, by `$1` job id.
    const SELECT_JOB: &'static str;
    /// The attempt `$2` of job `$1`, its row kept from other writers until the transaction ends.
    const SELECT_ATTEMPT_FOR_UPDATE: &'static str;
    /// Creates or replaces a runner task: `$1` runner id, `$2` task ref, `$3` state JSON, `$4` now.
    const UPSERT_RUNNER_TASK: &'static str;
    /// A runner task, the state as text, by `$1` runner id and `$2` task ref.
    const SELECT_RUNNER_TASK: &'static str;
    /// A runner's tasks, the state as text, by `$1` runner id, ordered by task ref.
    const SELECT_RUNNER_TASKS: &'static str;
}

/// An attempt by job id and number, as both databases read it outside a transaction that
/// changes it.
pub(crate) const SELECT_ATTEMPT: &str =
    concat!("SELECT ", attempt_columns!(), " FROM attempts WHERE job_id = $1 AND attempt = $2");

/// The `Store` on one database; each backend module opens its pool and hands it in.
#[derive(Debug)]
pub(crate) struct SqlStore<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        SqlStore { pool }
    }

    async fn begin(&self) -> Result<Transaction<'static, D::Db>, sqlx::Error> {
        match D::BEGIN {
            Some(statement) => self.pool.begin_with(statement).await,
            None => self.pool.begin().await,
        }
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    // The types the queries bind and read. Rust does not carry bounds like these from a trait to
    // its users (they hold for both drivers), so the helpers' impl below repeats them.
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'s> &'s str: ColumnIndex<<D::Db as Database>::Row>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    str: Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db>,
    String: Type<D::Db> + for<'q> Encode<'q, D::Db> + for<'r> Decode<'r, D::Db>,
    i64: Type<D::Db> + for<'q> Encode<'q, D::Db> + for<'r> Decode<'r, D::Db>,
    Option<i64>: for<'q> Encode<'q, D::Db>,
{
    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %request.job_id, attempt = request.attempt))]
    async fn record_job(
        &self,
        request: &JobRequest,
        orchestrator_id: &str,
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError> {
        const WHAT: &str = "record a job";
        let attempt = check::attempt(WHAT, request.attempt)?;
        let (request_json, origin_json) = row::request_json(WHAT, request)?;
        let job_id = request.job_id.to_string();
        let mut tx = self.begin().await.map_err(StoreError::query(WHAT))?;
        sqlx::query(D::INSERT_JOB)
            .bind(&job_id)
            .bind(attempt)
            .bind(&request.route_label)
            .bind(&request.origin.runner_id)
            .bind(&origin_json)
            .bind(&request_json)
            .bind(D::Time::from(now))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(WHAT))?;
        let inserted_attempt = sqlx::query(
            "INSERT INTO attempts (job_id, attempt, orchestrator_id, state, recorded_at)
             VALUES ($1, $2, $3, 'queued', $4)
             ON CONFLICT (job_id, attempt) DO NOTHING",
        )
        .bind(&job_id)
        .bind(attempt)
        .bind(orchestrator_id)
        .bind(D::Time::from(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        if D::rows_affected(&inserted_attempt) == 0 {
            let existing = Self::fetch_attempt(&mut *tx, SELECT_ATTEMPT, WHAT, &job_id, attempt).await?;
            tx.commit().await.map_err(StoreError::query(WHAT))?;
            return existing
                .map(Recorded::Existing)
                .ok_or_else(|| StoreError::corrupt(WHAT, "an attempt that conflicts on insert yet cannot be read"));
        }
        // A later attempt (a re-run) becomes the job's current one.
        sqlx::query(D::UPDATE_JOB)
            .bind(&job_id)
            .bind(attempt)
            .bind(&request.route_label)
            .bind(&request.origin.runner_id)
            .bind(&origin_json)
            .bind(&request_json)
            .bind(D::Time::from(now))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(WHAT))?;
        tx.commit().await.map_err(StoreError::query(WHAT))?;
        Ok(Recorded::New)
    }

    async fn job(&self, job_id: Ulid) -> Result<Option<JobRecord>, StoreError> {
        const WHAT: &str = "read a job";
        let job_id = job_id.to_string();
        let Some(job) = sqlx::query(D::SELECT_JOB)
            .bind(&job_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?
        else {
            return Ok(None);
        };
        let job = Self::job_row(&job).map_err(StoreError::query(WHAT))?;
        let attempts =
            sqlx::query(concat!("SELECT ", attempt_columns!(), " FROM attempts WHERE job_id = $1 ORDER BY attempt"))
                .bind(&job_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query(WHAT))?;
        let attempts = attempts.iter().map(|row| Self::read_attempt(WHAT, row)).collect::<Result<_, _>>()?;
        job.into_record(attempts).map(Some)
    }

    #[tracing::instrument(level = "debug", skip(self, now), fields(%job_id))]
    async fn start_attempt(
        &self,
        job_id: Ulid,
        attempt: u32,
        orchestrator_id: &str,
        now: OffsetDateTime,
    ) -> Result<StartOutcome, StoreError> {
        const WHAT: &str = "start an attempt";
        let number = check::attempt(WHAT, attempt)?;
        let id = job_id.to_string();
        let mut tx = self.begin().await.map_err(StoreError::query(WHAT))?;
        let Some(current) = Self::fetch_attempt(&mut *tx, D::SELECT_ATTEMPT_FOR_UPDATE, WHAT, &id, number).await?
        else {
            return Ok(StartOutcome::NotRecorded);
        };
        match current.state {
            AttemptState::Queued => {}
            AttemptState::Started => {
                return Ok(StartOutcome::AlreadyStarted {
                    orchestrator_id: current.orchestrator_id,
                    started_at: current.started_at,
                });
            }
            AttemptState::Finished => return Ok(StartOutcome::AlreadyFinished { result: current.result }),
        }
        if let Some(tombstone) = Self::find_tombstone(&mut *tx, WHAT, &id, number).await? {
            return Ok(StartOutcome::Cancelled(tombstone));
        }
        if current.orchestrator_id != orchestrator_id {
            let expires_at: Option<D::Time> =
                sqlx::query_scalar("SELECT expires_at FROM leases WHERE orchestrator_id = $1")
                    .bind(&current.orchestrator_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query(WHAT))?;
            if expires_at.is_some_and(|expires_at| expires_at.into() > now) {
                return Ok(StartOutcome::OwnedByPeer { orchestrator_id: current.orchestrator_id });
            }
        }
        sqlx::query(
            "UPDATE attempts SET state = 'started', orchestrator_id = $3, started_at = $4
             WHERE job_id = $1 AND attempt = $2",
        )
        .bind(&id)
        .bind(number)
        .bind(orchestrator_id)
        .bind(D::Time::from(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        Self::mirror_job_state(&mut *tx, WHAT, &id, number, AttemptState::Started, now).await?;
        tx.commit().await.map_err(StoreError::query(WHAT))?;
        Ok(StartOutcome::Started)
    }

    #[tracing::instrument(level = "debug", skip(self, error, now), fields(%job_id))]
    async fn finish_attempt(
        &self,
        job_id: Ulid,
        attempt: u32,
        orchestrator_id: &str,
        result: JobResult,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<FinishOutcome, StoreError> {
        const WHAT: &str = "finish an attempt";
        let number = check::attempt(WHAT, attempt)?;
        let id = job_id.to_string();
        let mut tx = self.begin().await.map_err(StoreError::query(WHAT))?;
        let Some(current) = Self::fetch_attempt(&mut *tx, D::SELECT_ATTEMPT_FOR_UPDATE, WHAT, &id, number).await?
        else {
            return Ok(FinishOutcome::NotRecorded);
        };
        if current.state == AttemptState::Finished {
            return Ok(FinishOutcome::AlreadyFinished { result: current.result });
        }
        if current.orchestrator_id != orchestrator_id {
            return Ok(FinishOutcome::NotOwner { orchestrator_id: current.orchestrator_id });
        }
        sqlx::query(
            "UPDATE attempts SET state = 'finished', finished_at = $3, result = $4, error = $5
             WHERE job_id = $1 AND attempt = $2",
        )
        .bind(&id)
        .bind(number)
        .bind(D::Time::from(now))
        .bind(result.as_str())
        .bind(error.map(check::text).as_deref())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        Self::mirror_job_state(&mut *tx, WHAT, &id, number, AttemptState::Finished, now).await?;
        tx.commit().await.map_err(StoreError::query(WHAT))?;
        Ok(FinishOutcome::Finished)
    }

    async fn unfinished_attempts(&self, orchestrator_id: &str) -> Result<Vec<Attempt>, StoreError> {
        const WHAT: &str = "list unfinished attempts";
        let rows = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM attempts WHERE orchestrator_id = $1 AND state <> 'finished' ORDER BY job_id, attempt"
        ))
        .bind(orchestrator_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        rows.iter().map(|row| Self::read_attempt(WHAT, row)).collect()
    }

    async fn heartbeat(&self, orchestrator_id: &str, now: OffsetDateTime, ttl: Duration) -> Result<Lease, StoreError> {
        const WHAT: &str = "renew the lease";
        let expires_at = row::expiry(WHAT, now, ttl)?;
        sqlx::query(
            "INSERT INTO leases (orchestrator_id, expires_at, renewed_at) VALUES ($1, $2, $3)
             ON CONFLICT (orchestrator_id) DO UPDATE
             SET expires_at = EXCLUDED.expires_at, renewed_at = EXCLUDED.renewed_at",
        )
        .bind(orchestrator_id)
        .bind(D::Time::from(expires_at))
        .bind(D::Time::from(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        Ok(row::lease(orchestrator_id.to_owned(), expires_at))
    }

    async fn release_lease(&self, orchestrator_id: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        const WHAT: &str = "release the lease";
        sqlx::query("UPDATE leases SET expires_at = $2 WHERE orchestrator_id = $1 AND expires_at > $2")
            .bind(orchestrator_id)
            .bind(D::Time::from(now))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(())
    }

    async fn expired_peers(&self, orchestrator_id: &str, now: OffsetDateTime) -> Result<Vec<Lease>, StoreError> {
        const WHAT: &str = "list expired peers";
        let rows = sqlx::query(
            "SELECT orchestrator_id, expires_at FROM leases
             WHERE orchestrator_id <> $1 AND expires_at <= $2 ORDER BY orchestrator_id",
        )
        .bind(orchestrator_id)
        .bind(D::Time::from(now))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        rows.iter()
            .map(|row| Ok(row::lease(row.try_get("orchestrator_id")?, row.try_get::<D::Time, _>("expires_at")?.into())))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query(WHAT))
    }

    #[tracing::instrument(level = "debug", skip(self, now))]
    async fn take_over(
        &self,
        orchestrator_id: &str,
        peer_id: &str,
        now: OffsetDateTime,
    ) -> Result<TakeOver, StoreError> {
        const WHAT: &str = "take over a peer's attempts";
        let mut tx = self.begin().await.map_err(StoreError::query(WHAT))?;
        // Deleting the expired lease is the claim: a second taker waits (on PostgreSQL's row
        // lock, or for SQLite's one connection), then finds no row, so exactly one proceeds.
        let claimed: Option<D::Time> = sqlx::query_scalar(
            "DELETE FROM leases WHERE orchestrator_id = $1 AND expires_at <= $2 RETURNING expires_at",
        )
        .bind(peer_id)
        .bind(D::Time::from(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        if claimed.is_none() {
            let alive: Option<D::Time> = sqlx::query_scalar("SELECT expires_at FROM leases WHERE orchestrator_id = $1")
                .bind(peer_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query(WHAT))?;
            return Ok(match alive {
                Some(expires_at) => TakeOver::LeaseAlive { expires_at: expires_at.into() },
                None => TakeOver::NoLease,
            });
        }
        let rows = sqlx::query(concat!(
            "UPDATE attempts SET orchestrator_id = $1 WHERE orchestrator_id = $2 AND state <> 'finished' RETURNING ",
            attempt_columns!()
        ))
        .bind(orchestrator_id)
        .bind(peer_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        let mut attempts = rows.iter().map(|row| Self::read_attempt(WHAT, row)).collect::<Result<Vec<_>, _>>()?;
        tx.commit().await.map_err(StoreError::query(WHAT))?;
        attempts.sort_by_key(|a| (a.job_id, a.attempt));
        tracing::info!(
            peer = peer_id,
            attempts = attempts.len(),
            "took over the attempts of a peer whose lease expired"
        );
        Ok(TakeOver::Taken(attempts))
    }

    async fn record_vm(&self, vm: &VmRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        const WHAT: &str = "record a VM";
        let attempt = check::attempt(WHAT, vm.attempt)?;
        sqlx::query(
            "INSERT INTO vms (vm_id, job_id, attempt, orchestrator_id, pid, qmp_socket, overlay, state, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (vm_id) DO UPDATE SET job_id = EXCLUDED.job_id, attempt = EXCLUDED.attempt,
                 orchestrator_id = EXCLUDED.orchestrator_id, pid = EXCLUDED.pid,
                 qmp_socket = EXCLUDED.qmp_socket, overlay = EXCLUDED.overlay, state = EXCLUDED.state,
                 updated_at = EXCLUDED.updated_at",
        )
        .bind(&vm.vm_id)
        .bind(vm.job_id.to_string())
        .bind(attempt)
        .bind(&vm.orchestrator_id)
        .bind(vm.pid.map(i64::from))
        .bind(check::path(WHAT, &vm.qmp_socket)?)
        .bind(check::path(WHAT, &vm.overlay)?)
        .bind(vm.state.as_str())
        .bind(D::Time::from(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        Ok(())
    }

    async fn set_vm_state(&self, vm_id: &str, state: VmState, now: OffsetDateTime) -> Result<bool, StoreError> {
        const WHAT: &str = "set a VM's state";
        let updated = sqlx::query("UPDATE vms SET state = $2, updated_at = $3 WHERE vm_id = $1")
            .bind(vm_id)
            .bind(state.as_str())
            .bind(D::Time::from(now))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(D::rows_affected(&updated) > 0)
    }

    async fn vms(&self, orchestrator_id: &str) -> Result<Vec<VmRecord>, StoreError> {
        const WHAT: &str = "list VMs";
        let rows =
            sqlx::query(concat!("SELECT ", vm_columns!(), " FROM vms WHERE orchestrator_id = $1 ORDER BY vm_id"))
                .bind(orchestrator_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query(WHAT))?;
        rows.iter().map(|row| Self::vm_row(row).map_err(StoreError::query(WHAT))?.into_record()).collect()
    }

    async fn remove_vm(&self, vm_id: &str) -> Result<bool, StoreError> {
        const WHAT: &str = "remove a VM record";
        let deleted = sqlx::query("DELETE FROM vms WHERE vm_id = $1")
            .bind(vm_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(D::rows_affected(&deleted) > 0)
    }

    async fn next_seqs(&self, job_id: Ulid, attempt: u32, count: u32) -> Result<Range<u64>, StoreError> {
        const WHAT: &str = "hand out sequence numbers";
        let number = check::attempt(WHAT, attempt)?;
        if count == 0 {
            let mark = self.last_seq(job_id, attempt).await?;
            return Ok(mark + 1..mark + 1);
        }
        // One statement: the upsert's row lock (PostgreSQL) or the one connection (SQLite) makes
        // concurrent callers take turns.
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO sequences (job_id, attempt, last_seq) VALUES ($1, $2, $3)
             ON CONFLICT (job_id, attempt) DO UPDATE SET last_seq = sequences.last_seq + EXCLUDED.last_seq
             RETURNING last_seq",
        )
        .bind(job_id.to_string())
        .bind(number)
        .bind(i64::from(count))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        row::seq_range(WHAT, last, count)
    }

    async fn last_seq(&self, job_id: Ulid, attempt: u32) -> Result<u64, StoreError> {
        const WHAT: &str = "read the sequence mark";
        let number = check::attempt(WHAT, attempt)?;
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM sequences WHERE job_id = $1 AND attempt = $2")
            .bind(job_id.to_string())
            .bind(number)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        row::seq_mark(WHAT, last.unwrap_or(0))
    }

    async fn add_tombstone(
        &self,
        job_id: Ulid,
        scope: TombstoneScope,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Tombstone, StoreError> {
        const WHAT: &str = "record a tombstone";
        let attempt = row::scope_column(WHAT, scope)?;
        let id = job_id.to_string();
        sqlx::query(
            "INSERT INTO tombstones (job_id, attempt, reason, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (job_id, attempt) DO NOTHING",
        )
        .bind(&id)
        .bind(attempt)
        .bind(check::text(reason).as_ref())
        .bind(D::Time::from(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        let row = sqlx::query(
            "SELECT job_id, attempt, reason, created_at FROM tombstones WHERE job_id = $1 AND attempt = $2",
        )
        .bind(&id)
        .bind(attempt)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        Self::tombstone_row(&row).map_err(StoreError::query(WHAT))?.into_tombstone()
    }

    async fn tombstone(&self, job_id: Ulid, attempt: u32) -> Result<Option<Tombstone>, StoreError> {
        const WHAT: &str = "look up a tombstone";
        let number = check::attempt(WHAT, attempt)?;
        Self::find_tombstone(&self.pool, WHAT, &job_id.to_string(), number).await
    }

    async fn prune_tombstones(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        const WHAT: &str = "prune tombstones";
        let deleted = sqlx::query("DELETE FROM tombstones WHERE created_at < $1")
            .bind(D::Time::from(before))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(D::rows_affected(&deleted))
    }

    async fn put_runner_task(
        &self,
        runner_id: &str,
        task_ref: &str,
        state: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "save a runner task";
        sqlx::query(D::UPSERT_RUNNER_TASK)
            .bind(runner_id)
            .bind(task_ref)
            .bind(state.to_string())
            .bind(D::Time::from(now))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(())
    }

    async fn runner_task(&self, runner_id: &str, task_ref: &str) -> Result<Option<RunnerTask>, StoreError> {
        const WHAT: &str = "read a runner task";
        let row = sqlx::query(D::SELECT_RUNNER_TASK)
            .bind(runner_id)
            .bind(task_ref)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        row.map(|row| Self::runner_task_row(&row).map_err(StoreError::query(WHAT))?.into_task()).transpose()
    }

    async fn runner_tasks(&self, runner_id: &str) -> Result<Vec<RunnerTask>, StoreError> {
        const WHAT: &str = "list runner tasks";
        let rows = sqlx::query(D::SELECT_RUNNER_TASKS)
            .bind(runner_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        rows.iter().map(|row| Self::runner_task_row(row).map_err(StoreError::query(WHAT))?.into_task()).collect()
    }

    async fn remove_runner_task(&self, runner_id: &str, task_ref: &str) -> Result<bool, StoreError> {
        const WHAT: &str = "remove a runner task";
        let deleted = sqlx::query("DELETE FROM runner_tasks WHERE runner_id = $1 AND task_ref = $2")
            .bind(runner_id)
            .bind(task_ref)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(D::rows_affected(&deleted) > 0)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The queries `Store` methods share, and the reading of rows into `row`'s types.
impl<D: Dialect> SqlStore<D>
where
    // The same bounds as on the `Store` impl above.
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'s> &'s str: ColumnIndex<<D::Db as Database>::Row>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    str: Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db>,
    String: Type<D::Db> + for<'q> Encode<'q, D::Db> + for<'r> Decode<'r, D::Db>,
    i64: Type<D::Db> + for<'q> Encode<'q, D::Db> + for<'r> Decode<'r, D::Db>,
    Option<i64>: for<'q> Encode<'q, D::Db>,
{
    /// Attempt `attempt` of job `job_id`, read with `sql`: [`SELECT_ATTEMPT`], or the
    /// dialect's [`Dialect::SELECT_ATTEMPT_FOR_UPDATE`] in a transaction about to change it.
    async fn fetch_attempt<'e>(
        executor: impl Executor<'e, Database = D::Db>,
        sql: &'static str,
        what: &'static str,
        job_id: &str,
        attempt: i64,
    ) -> Result<Option<Attempt>, StoreError> {
        let row = sqlx::query(sql)
            .bind(job_id)
            .bind(attempt)
            .fetch_optional(executor)
            .await
            .map_err(StoreError::query(what))?;
        row.map(|row| Self::read_attempt(what, &row)).transpose()
    }

    async fn find_tombstone<'e>(
        executor: impl Executor<'e, Database = D::Db>,
        what: &'static str,
        job_id: &str,
        attempt: i64,
    ) -> Result<Option<Tombstone>, StoreError> {
        let row = sqlx::query(
            "SELECT job_id, attempt, reason, created_at FROM tombstones
             WHERE job_id = $1 AND attempt IN (0, $2) ORDER BY created_at, attempt LIMIT 1",
        )
        .bind(job_id)
        .bind(attempt)
        .fetch_optional(executor)
        .await
        .map_err(StoreError::query(what))?;
        row.map(|row| Self::tombstone_row(&row).map_err(StoreError::query(what))?.into_tombstone()).transpose()
    }

    /// Keeps `jobs.state` equal to the state of the job's latest attempt.
    async fn mirror_job_state<'e>(
        executor: impl Executor<'e, Database = D::Db>,
        what: &'static str,
        job_id: &str,
        attempt: i64,
        state: AttemptState,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET state = $3, updated_at = $4 WHERE job_id = $1 AND attempt = $2")
            .bind(job_id)
            .bind(attempt)
            .bind(state.as_str())
            .bind(D::Time::from(now))
            .execute(executor)
            .await
            .map_err(StoreError::query(what))?;
        Ok(())
    }

    fn read_attempt(what: &'static str, row: &<D::Db as Database>::Row) -> Result<Attempt, StoreError> {
        Self::attempt_row(row).map_err(StoreError::query(what))?.into_attempt()
    }

    fn job_row(row: &<D::Db as Database>::Row) -> Result<JobRow, sqlx::Error> {
        Ok(JobRow {
            job_id: row.try_get("job_id")?,
            attempt: row.try_get("attempt")?,
            state: row.try_get("state")?,
            label: row.try_get("label")?,
            runner_id: row.try_get("runner_id")?,
            request: row.try_get("request")?,
            recorded_at: row.try_get::<D::Time, _>("recorded_at")?.into(),
        })
    }

    fn attempt_row(row: &<D::Db as Database>::Row) -> Result<AttemptRow, sqlx::Error> {
        Ok(AttemptRow {
            job_id: row.try_get("job_id")?,
            attempt: row.try_get("attempt")?,
            orchestrator_id: row.try_get("orchestrator_id")?,
            state: row.try_get("state")?,
            recorded_at: row.try_get::<D::Time, _>("recorded_at")?.into(),
            started_at: row.try_get::<Option<D::Time>, _>("started_at")?.map(Into::into),
            finished_at: row.try_get::<Option<D::Time>, _>("finished_at")?.map(Into::into),
            result: row.try_get("result")?,
            error: row.try_get("error")?,
        })
    }

    fn vm_row(row: &<D::Db as Database>::Row) -> Result<VmRow, sqlx::Error> {
        Ok(VmRow {
            vm_id: row.try_get("vm_id")?,
            job_id: row.try_get("job_id")?,
            attempt: row.try_get("attempt")?,
            orchestrator_id: row.try_get("orchestrator_id")?,
            pid: row.try_get("pid")?,
            qmp_socket: row.try_get("qmp_socket")?,
            overlay: row.try_get("overlay")?,
            state: row.try_get("state")?,
        })
    }

    fn tombstone_row(row: &<D::Db as Database>::Row) -> Result<TombstoneRow, sqlx::Error> {
        Ok(TombstoneRow {
            job_id: row.try_get("job_id")?,
            attempt: row.try_get("attempt")?,
            reason: row.try_get("reason")?,
            created_at: row.try_get::<D::Time, _>("created_at")?.into(),
        })
    }

    fn runner_task_row(row: &<D::Db as Database>::Row) -> Result<RunnerTaskRow, sqlx::Error> {
        Ok(RunnerTaskRow {
            runner_id: row.try_get("runner_id")?,
            task_ref: row.try_get("task_ref")?,
            state: row.try_get("state")?,
            updated_at: row.try_get::<D::Time, _>("updated_at")?.into(),
        })
    }
}
