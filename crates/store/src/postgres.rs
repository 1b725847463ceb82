//! The store on PostgreSQL: a connection pool, READ COMMITTED transactions, and row locks or
//! single-statement upserts wherever two orchestrators may race. The queries are in `sql`; here
//! is how to connect, and the PostgreSQL side of [`Dialect`]: JSON columns cast from and to
//! text, and `FOR UPDATE` on the attempt a transaction is about to change.

use std::time::Duration as StdDuration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, Postgres};
use time::OffsetDateTime;

use crate::row::attempt_columns;
use crate::sql::{Dialect, SqlStore};
use crate::{StoreError, migrations};

/// Enough for an orchestrator's concurrent jobs, each writing its events' sequence numbers.
const MAX_CONNECTIONS: u32 = 10;

/// How long an operation waits for a free connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: StdDuration = StdDuration::from_secs(10);

#[derive(Debug)]
pub(crate) struct PgDialect;

pub(crate) type PgStore = SqlStore<PgDialect>;

impl PgStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(StoreError::MalformedUrl)?;
        let options = options.application_name("solstice");
        // One plain connection first: it fails at once when the server is down (a pool would
        // keep retrying until its acquire timeout), and it applies the migrations.
        let mut first = PgConnection::connect_with(&options)
            .await
            .map_err(|source| StoreError::Unavailable { what: "connect to PostgreSQL", source })?;
        migrations::postgres().run(&mut first).await.map_err(StoreError::migrate)?;
        first.close().await.map_err(StoreError::query("connect to PostgreSQL"))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        tracing::debug!("connected to PostgreSQL and applied the migrations");
        Ok(SqlStore::new(pool))
    }
}

impl Dialect for PgDialect {
    type Db = Postgres;
    type Time = OffsetDateTime;

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// The driver's `BEGIN`: READ COMMITTED, with row locks where it matters.
    const BEGIN: Option<&'static str> = None;

    const INSERT_JOB: &'static str =
        "INSERT INTO jobs (job_id, attempt, state, label, runner_id, origin, request, recorded_at, updated_at)
         VALUES ($1, $2, 'queued', $3, $4, $5::jsonb, $6::json, $7, $7)
         ON CONFLICT (job_id) DO NOTHING";
    const UPDATE_JOB: &'static str =
        "UPDATE jobs SET attempt = $2, state = 'queued', label = $3, runner_id = $4, origin = $5::jsonb,
             request = $6::json, updated_at = $7
         WHERE job_id = $1 AND attempt < $2";
    const SELECT_JOB: &'static str =
        "SELECT job_id, attempt, state, label, runner_id, request::text AS request, recorded_at
         FROM jobs WHERE job_id = $1";
    const SELECT_ATTEMPT_FOR_UPDATE: &'static str =
        concat!("SELECT ", attempt_columns!(), " FROM attempts WHERE job_id = $1 AND attempt = $2 FOR UPDATE");
    const UPSERT_RUNNER_TASK: &'static str =
        "INSERT INTO runner_tasks (runner_id, task_ref, state, updated_at) VALUES ($1, $2, $3::json, $4)
         ON CONFLICT (runner_id, task_ref) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at";
    const SELECT_RUNNER_TASK: &'static str =
        "SELECT runner_id, task_ref, state::text AS state, updated_at FROM runner_tasks
         WHERE runner_id = $1 AND task_ref = $2";
    const SELECT_RUNNER_TASKS: &'static str =
        "SELECT runner_id, task_ref, state::text AS state, updated_at FROM runner_tasks
         WHERE runner_id = $1 ORDER BY task_ref";
}
