//! The store on SQLite: WAL mode, a busy timeout, and one connection that is the only writer,
//! so transactions never interleave inside the process; they begin IMMEDIATE so a second
//! process on the same file waits for the write lock instead of failing half-way. The queries
//! are in `sql`; here is how to open the file, and the SQLite side of [`Dialect`]: timestamps
//! are microseconds since the epoch, and the statements are PostgreSQL's minus the casts and
//! row locks.

use std::time::Duration as StdDuration;

use sqlx::Sqlite;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArgumentsBuffer, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    SqliteTypeInfo, SqliteValueRef,
};
use time::OffsetDateTime;

use crate::sql::{Dialect, SELECT_ATTEMPT, SqlStore};
use crate::{StoreError, migrations};

/// How long a statement waits for another process's write lock on the file.
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// How long an operation waits for the one connection before the database counts as
/// unavailable. Operations hold it for a statement or a short transaction, so a long wait
/// means something is stuck.
const ACQUIRE_TIMEOUT: StdDuration = StdDuration::from_secs(30);

/// A timestamp as SQLite keeps it: INTEGER microseconds since the Unix epoch, which compare as
/// numbers in SQL (`expires_at <= $2`) and keep PostgreSQL's precision.
pub(crate) struct Micros(OffsetDateTime);

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

impl From<OffsetDateTime> for Micros {
    fn from(at: OffsetDateTime) -> Self {
        Micros(at)
    }
}

impl From<Micros> for OffsetDateTime {
    fn from(at: Micros) -> Self {
        at.0
    }
}

#[derive(Debug)]
pub(crate) struct SqliteDialect;

pub(crate) type SqliteStore = SqlStore<SqliteDialect>;

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
        Ok(SqlStore::new(pool))
    }
}

impl Dialect for SqliteDialect {
    type Db = Sqlite;
    type Time = Micros;

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// IMMEDIATE: take the write lock at once, so another process on the file makes us wait
    /// (up to the busy timeout) rather than fail at the first write.
    const BEGIN: Option<&'static str> = Some("BEGIN IMMEDIATE");

    const INSERT_JOB: &'static str =
        "INSERT INTO jobs (job_id, attempt, state, label, runner_id, origin, request, recorded_at, updated_at)
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $7)
         ON CONFLICT (job_id) DO NOTHING";
    const UPDATE_JOB: &'static str =
        "UPDATE jobs SET attempt = $2, state = 'queued', label = $3, runner_id = $4, origin = $5,
             request = $6, updated_at = $7
         WHERE job_id = $1 AND attempt < $2";
    const SELECT_JOB: &'static str = "SELECT job_id, attempt, state, label, runner_id, request, recorded_at
         FROM jobs WHERE job_id = $1";
    /// No lock clause: the transaction began IMMEDIATE on the single connection.
    const SELECT_ATTEMPT_FOR_UPDATE: &'static str = SELECT_ATTEMPT;
    const UPSERT_RUNNER_TASK: &'static str =
        "INSERT INTO runner_tasks (runner_id, task_ref, state, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (runner_id, task_ref) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at";
    const SELECT_RUNNER_TASK: &'static str = "SELECT runner_id, task_ref, state, updated_at FROM runner_tasks
         WHERE runner_id = $1 AND task_ref = $2";
    const SELECT_RUNNER_TASKS: &'static str = "SELECT runner_id, task_ref, state, updated_at FROM runner_tasks
         WHERE runner_id = $1 ORDER BY task_ref";
}
