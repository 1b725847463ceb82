//! The store on SQLite: WAL mode, a busy timeout, and one connection that is the only writer,
//! so transactions never interleave inside the process; they begin IMMEDIATE so a second
//! process on the same file waits for the write lock instead of failing half-way. The SQL is
//! PostgreSQL's minus the casts and row locks; timestamps are microseconds since the epoch.

use std::ops::Range;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use contract::{JobRequest, JobResult};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArgumentsBuffer, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous, SqliteTypeInfo, SqliteValueRef,
};
use sqlx::{Executor, Row, Sqlite};
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

use crate::row::{self, AttemptRow, JobRow, RunnerTaskRow, TombstoneRow, VmRow, attempt_columns, check, vm_columns};
use crate::{
    Attempt, AttemptState, FinishOutcome, JobRecord, Lease, Recorded, RunnerTask, StartOutcome, Store, StoreError,
    TakeOver, Tombstone, TombstoneScope, VmRecord, VmState, migrations,
};

/// How long a statement waits for another process's write lock on the file.
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// How long an operation waits for the one connection before the database counts as
/// unavailable. Operations hold it for a statement or a short transaction, so a long wait
/// means something is stuck.
const ACQUIRE_TIMEOUT: StdDuration = StdDuration::from_secs(30);

/// A timestamp as SQLite keeps it: INTEGER microseconds since the Unix epoch, which compare as
/// numbers in SQL (`expires_at <= $2`) and keep PostgreSQL's precision.
struct Micros(OffsetDateTime);

impl sqlx::Type<Sqlite> for Micros {
    fn type_info() -> SqliteTypeInfo {
        <i64 as sqlx::Type<Sqlite>>::type_info()
    }
}

impl sqlx::Encode<'_, Sqlite> for Micros {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        let micros = i64::try_from(self.0.unix_timestamp_nanos().div_euclid(1000))?;
        <i64 as sqlx::Encode<Sqlite>>::encode_by_ref(&micros, buf)
    }
}

impl<'r> sqlx::Decode<'r, Sqlite> for Micros {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as sqlx::Decode<Sqlite>>::decode(value)?;
        Ok(Micros(OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)?))
    }
}

#[derive(Debug)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: SqliteConnectOptions = url.parse().map_err(StoreError::MalformedUrl)?;
        // FULL, not NORMAL: WAL with NORMAL may lose the last commits on power loss, and callers
        // ack bus messages once the store has them.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // One connection, never recycled: the single writer, and for `sqlite::memory:` the
        // database itself (a closed in-memory connection takes its data with it).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Unavailable { what: "open the SQLite database", source })?;
        migrations::sqlite().run(&pool).await.map_err(StoreError::migrate)?;
        tracing::debug!("opened the SQLite database and applied the migrations");
        Ok(SqliteStore { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::query(WHAT))?;
        sqlx::query(
            "INSERT INTO jobs (job_id, attempt, state, label, runner_id, origin, request, recorded_at, updated_at)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $7)
             ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(&job_id)
        .bind(attempt)
        .bind(&request.route_label)
        .bind(&request.origin.runner_id)
        .bind(&origin_json)
        .bind(&request_json)
        .bind(Micros(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        let inserted = sqlx::query(
            "INSERT INTO attempts (job_id, attempt, orchestrator_id, state, recorded_at)
             VALUES ($1, $2, $3, 'queued', $4)
             ON CONFLICT (job_id, attempt) DO NOTHING",
        )
        .bind(&job_id)
        .bind(attempt)
        .bind(orchestrator_id)
        .bind(Micros(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?
        .rows_affected();
        if inserted == 0 {
            let existing = fetch_attempt(&mut *tx, WHAT, &job_id, attempt).await?;
            tx.commit().await.map_err(StoreError::query(WHAT))?;
            return existing
                .map(Recorded::Existing)
                .ok_or_else(|| StoreError::corrupt(WHAT, "an attempt that conflicts on insert yet cannot be read"));
        }
        // A later attempt (a re-run) becomes the job's current one.
        sqlx::query(
            "UPDATE jobs SET attempt = $2, state = 'queued', label = $3, runner_id = $4, origin = $5,
                 request = $6, updated_at = $7
             WHERE job_id = $1 AND attempt < $2",
        )
        .bind(&job_id)
        .bind(attempt)
        .bind(&request.route_label)
        .bind(&request.origin.runner_id)
        .bind(&origin_json)
        .bind(&request_json)
        .bind(Micros(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        tx.commit().await.map_err(StoreError::query(WHAT))?;
        Ok(Recorded::New)
    }

    async fn job(&self, job_id: Ulid) -> Result<Option<JobRecord>, StoreError> {
        const WHAT: &str = "read a job";
        let job_id = job_id.to_string();
        let Some(job) = sqlx::query(
            "SELECT job_id, attempt, state, label, runner_id, request, recorded_at
             FROM jobs WHERE job_id = $1",
        )
        .bind(&job_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?
        else {
            return Ok(None);
        };
        let job = job_row(&job).map_err(StoreError::query(WHAT))?;
        let attempts =
            sqlx::query(concat!("SELECT ", attempt_columns!(), " FROM attempts WHERE job_id = $1 ORDER BY attempt"))
                .bind(&job_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query(WHAT))?;
        let attempts = attempts.iter().map(|row| read_attempt(WHAT, row)).collect::<Result<_, _>>()?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::query(WHAT))?;
        let Some(current) = fetch_attempt(&mut *tx, WHAT, &id, number).await? else {
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
        if let Some(tombstone) = find_tombstone(&mut *tx, WHAT, &id, number).await? {
            return Ok(StartOutcome::Cancelled(tombstone));
        }
        if current.orchestrator_id != orchestrator_id {
            let expires_at: Option<Micros> =
                sqlx::query_scalar("SELECT expires_at FROM leases WHERE orchestrator_id = $1")
                    .bind(&current.orchestrator_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query(WHAT))?;
            if expires_at.is_some_and(|expires_at| expires_at.0 > now) {
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
        .bind(Micros(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        mirror_job_state(&mut *tx, WHAT, &id, number, AttemptState::Started, now).await?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::query(WHAT))?;
        let Some(current) = fetch_attempt(&mut *tx, WHAT, &id, number).await? else {
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
        .bind(Micros(now))
        .bind(result.as_str())
        .bind(error.map(check::text))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        mirror_job_state(&mut *tx, WHAT, &id, number, AttemptState::Finished, now).await?;
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
        rows.iter().map(|row| read_attempt(WHAT, row)).collect()
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
        .bind(Micros(expires_at))
        .bind(Micros(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        Ok(row::lease(orchestrator_id.to_owned(), expires_at))
    }

    async fn release_lease(&self, orchestrator_id: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        const WHAT: &str = "release the lease";
        sqlx::query("UPDATE leases SET expires_at = $2 WHERE orchestrator_id = $1 AND expires_at > $2")
            .bind(orchestrator_id)
            .bind(Micros(now))
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
        .bind(Micros(now))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        rows.iter()
            .map(|row| Ok(row::lease(row.try_get("orchestrator_id")?, row.try_get::<Micros, _>("expires_at")?.0)))
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::query(WHAT))?;
        // Deleting the expired lease is the claim: transactions on the one connection take
        // turns, so a second taker finds no row.
        let claimed: Option<Micros> = sqlx::query_scalar(
            "DELETE FROM leases WHERE orchestrator_id = $1 AND expires_at <= $2 RETURNING expires_at",
        )
        .bind(peer_id)
        .bind(Micros(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query(WHAT))?;
        if claimed.is_none() {
            let alive: Option<Micros> = sqlx::query_scalar("SELECT expires_at FROM leases WHERE orchestrator_id = $1")
                .bind(peer_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query(WHAT))?;
            return Ok(match alive {
                Some(Micros(expires_at)) => TakeOver::LeaseAlive { expires_at },
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
        let mut attempts = rows.iter().map(|row| read_attempt(WHAT, row)).collect::<Result<Vec<_>, _>>()?;
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
        .bind(Micros(now))
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
            .bind(Micros(now))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(updated.rows_affected() > 0)
    }

    async fn vms(&self, orchestrator_id: &str) -> Result<Vec<VmRecord>, StoreError> {
        const WHAT: &str = "list VMs";
        let rows =
            sqlx::query(concat!("SELECT ", vm_columns!(), " FROM vms WHERE orchestrator_id = $1 ORDER BY vm_id"))
                .bind(orchestrator_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query(WHAT))?;
        rows.iter().map(|row| vm_row(row).map_err(StoreError::query(WHAT))?.into_record()).collect()
    }

    async fn remove_vm(&self, vm_id: &str) -> Result<bool, StoreError> {
        const WHAT: &str = "remove a VM record";
        let deleted = sqlx::query("DELETE FROM vms WHERE vm_id = $1")
            .bind(vm_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn next_seqs(&self, job_id: Ulid, attempt: u32, count: u32) -> Result<Range<u64>, StoreError> {
        const WHAT: &str = "hand out sequence numbers";
        let number = check::attempt(WHAT, attempt)?;
        if count == 0 {
            let mark = self.last_seq(job_id, attempt).await?;
            return Ok(mark + 1..mark + 1);
        }
        // One statement on the one connection: callers take turns.
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
        .bind(check::text(reason))
        .bind(Micros(now))
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
        tombstone_row(&row).map_err(StoreError::query(WHAT))?.into_tombstone()
    }

    async fn tombstone(&self, job_id: Ulid, attempt: u32) -> Result<Option<Tombstone>, StoreError> {
        const WHAT: &str = "look up a tombstone";
        let number = check::attempt(WHAT, attempt)?;
        find_tombstone(&self.pool, WHAT, &job_id.to_string(), number).await
    }

    async fn prune_tombstones(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        const WHAT: &str = "prune tombstones";
        let deleted = sqlx::query("DELETE FROM tombstones WHERE created_at < $1")
            .bind(Micros(before))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(deleted.rows_affected())
    }

    async fn put_runner_task(
        &self,
        runner_id: &str,
        task_ref: &str,
        state: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "save a runner task";
        sqlx::query(
            "INSERT INTO runner_tasks (runner_id, task_ref, state, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (runner_id, task_ref) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
        )
        .bind(runner_id)
        .bind(task_ref)
        .bind(state.to_string())
        .bind(Micros(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        Ok(())
    }

    async fn runner_task(&self, runner_id: &str, task_ref: &str) -> Result<Option<RunnerTask>, StoreError> {
        const WHAT: &str = "read a runner task";
        let row = sqlx::query(
            "SELECT runner_id, task_ref, state, updated_at FROM runner_tasks
             WHERE runner_id = $1 AND task_ref = $2",
        )
        .bind(runner_id)
        .bind(task_ref)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        row.map(|row| runner_task_row(&row).map_err(StoreError::query(WHAT))?.into_task()).transpose()
    }

    async fn runner_tasks(&self, runner_id: &str) -> Result<Vec<RunnerTask>, StoreError> {
        const WHAT: &str = "list runner tasks";
        let rows = sqlx::query(
            "SELECT runner_id, task_ref, state, updated_at FROM runner_tasks
             WHERE runner_id = $1 ORDER BY task_ref",
        )
        .bind(runner_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(WHAT))?;
        rows.iter().map(|row| runner_task_row(row).map_err(StoreError::query(WHAT))?.into_task()).collect()
    }

    async fn remove_runner_task(&self, runner_id: &str, task_ref: &str) -> Result<bool, StoreError> {
        const WHAT: &str = "remove a runner task";
        let deleted = sqlx::query("DELETE FROM runner_tasks WHERE runner_id = $1 AND task_ref = $2")
            .bind(runner_id)
            .bind(task_ref)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(WHAT))?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn fetch_attempt<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    what: &'static str,
    job_id: &str,
    attempt: i64,
) -> Result<Option<Attempt>, StoreError> {
    let row = sqlx::query(concat!("SELECT ", attempt_columns!(), " FROM attempts WHERE job_id = $1 AND attempt = $2"))
        .bind(job_id)
        .bind(attempt)
        .fetch_optional(executor)
        .await
        .map_err(StoreError::query(what))?;
    row.map(|row| read_attempt(what, &row)).transpose()
}

async fn find_tombstone<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
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
    row.map(|row| tombstone_row(&row).map_err(StoreError::query(what))?.into_tombstone()).transpose()
}

/// Keeps `jobs.state` equal to the state of the job's latest attempt.
async fn mirror_job_state<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
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
        .bind(Micros(now))
        .execute(executor)
        .await
        .map_err(StoreError::query(what))?;
    Ok(())
}

fn read_attempt(what: &'static str, row: &SqliteRow) -> Result<Attempt, StoreError> {
    attempt_row(row).map_err(StoreError::query(what))?.into_attempt()
}

fn job_row(row: &SqliteRow) -> Result<JobRow, sqlx::Error> {
    Ok(JobRow {
        job_id: row.try_get("job_id")?,
        attempt: row.try_get("attempt")?,
        state: row.try_get("state")?,
        label: row.try_get("label")?,
        runner_id: row.try_get("runner_id")?,
        request: row.try_get("request")?,
        recorded_at: row.try_get::<Micros, _>("recorded_at")?.0,
    })
}

fn attempt_row(row: &SqliteRow) -> Result<AttemptRow, sqlx::Error> {
    Ok(AttemptRow {
        job_id: row.try_get("job_id")?,
        attempt: row.try_get("attempt")?,
        orchestrator_id: row.try_get("orchestrator_id")?,
        state: row.try_get("state")?,
        recorded_at: row.try_get::<Micros, _>("recorded_at")?.0,
        started_at: row.try_get::<Option<Micros>, _>("started_at")?.map(|at| at.0),
        finished_at: row.try_get::<Option<Micros>, _>("finished_at")?.map(|at| at.0),
        result: row.try_get("result")?,
        error: row.try_get("error")?,
    })
}

fn vm_row(row: &SqliteRow) -> Result<VmRow, sqlx::Error> {
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

fn tombstone_row(row: &SqliteRow) -> Result<TombstoneRow, sqlx::Error> {
    Ok(TombstoneRow {
        job_id: row.try_get("job_id")?,
        attempt: row.try_get("attempt")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get::<Micros, _>("created_at")?.0,
    })
}

fn runner_task_row(row: &SqliteRow) -> Result<RunnerTaskRow, sqlx::Error> {
    Ok(RunnerTaskRow {
        runner_id: row.try_get("runner_id")?,
        task_ref: row.try_get("task_ref")?,
        state: row.try_get("state")?,
        updated_at: row.try_get::<Micros, _>("updated_at")?.0,
    })
}
