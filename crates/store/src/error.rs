//! What can go wrong in the store. Messages are fragments that fit after "failed to …"; the
//! `what` of a variant names the operation ("start an attempt").

/// Every error the store returns. [`StoreError::is_unavailable`] tells the binaries which ones
/// mean "the database is unreachable" (exit 3, brief §3.7).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `SOLSTICE_DATABASE_URL` names neither PostgreSQL nor SQLite. Only the scheme is kept:
    /// the rest of the URL may hold a password.
    #[error("open the store: `{scheme}` is not a database we support (use postgres://… or sqlite://…)")]
    UnsupportedUrl { scheme: String },
    /// The URL has the right scheme but the driver cannot make sense of the rest.
    #[error("open the store: the database URL is malformed")]
    MalformedUrl(#[source] sqlx::Error),
    /// The database could not be reached or did not answer: the connection was refused or
    /// lost, the pool timed out, the SQLite file stayed locked past the busy timeout.
    #[error("{what}: the database is unavailable")]
    Unavailable {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("apply the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database refused or failed a statement for a reason other than reachability.
    #[error("{what}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A row holds something the code cannot read back (a job id that is no ULID, a request
    /// that no longer deserializes).
    #[error("{what}: the database holds {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// The caller passed something the store cannot keep (attempt 0, a path that is not UTF-8).
    #[error("{what}: {detail}")]
    Invalid { what: &'static str, detail: String },
}

impl StoreError {
    /// Whether the database was out of reach, as opposed to refusing what we asked. The
    /// binaries exit with 3 for these after their retries.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } => true,
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(source)) => unreachable(source),
            _ => false,
        }
    }

    /// Wraps a driver error from the operation `what`, sorting out unreachability.
    pub(crate) fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| {
            if unreachable(&source) {
                StoreError::Unavailable { what, source }
            } else {
                StoreError::Query { what, source }
            }
        }
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { what, detail: detail.into() }
    }

    pub(crate) fn migrate(source: sqlx::migrate::MigrateError) -> StoreError {
        match source {
            sqlx::migrate::MigrateError::Execute(source) if unreachable(&source) => {
                StoreError::Unavailable { what: "apply the database migrations", source }
            }
            source => StoreError::Migrate(source),
        }
    }
}

/// Whether a driver error means the database is out of reach rather than refusing a statement.
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite: SQLITE_BUSY and SQLITE_LOCKED (still there past the busy timeout) and
                // SQLITE_CANTOPEN; extended result codes keep the primary one in the low byte.
                code.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 14))
            } else {
                // PostgreSQL: class 08 is "connection exception"; 57P01–57P03 are shutdowns and
                // "cannot connect now"; 53300 is too many connections.
                code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
            }
        }
        _ => false,
    }
}
