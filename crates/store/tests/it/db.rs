//! A fresh database per test: a PostgreSQL database with a unique name, created on the server
//! and dropped when the test ends (also when it panics), or a SQLite file in a temporary
//! directory. Besides the store, a test gets raw access for what the trait does not show: what
//! lies on disk, the migrations table, rows the code would never write.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, Row};
use store::Store;
use tempfile::TempDir;
use testkit::postgres::TestDatabase;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestDb {
    pub url: String,
    pub store: Arc<dyn Store>,
    raw: Raw,
    /// Set for PostgreSQL: the database, dropped when the test ends (testkit's rule: on the
    /// server at 127.0.0.1:5432 or `SOLSTICE_TEST_POSTGRES_URL`).
    _postgres: Option<TestDatabase>,
    /// Set for SQLite: the directory holding the file and its WAL.
    dir: Option<TempDir>,
}

enum Raw {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl TestDb {
    pub async fn open(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => {
                let database = TestDatabase::create("solstice_store_it").await;
                let url = database.url.clone();
                let store = store::connect(&url).await.expect("open the store");
                let raw = sqlx::PgPool::connect(&url).await.expect("connect to the test database");
                TestDb { url, store, raw: Raw::Postgres(raw), _postgres: Some(database), dir: None }
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("make a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("store.db").display());
                let store = store::connect(&url).await.expect("open the store");
                let raw = sqlx::SqlitePool::connect(&url).await.expect("open the test database");
                TestDb { url, store, raw: Raw::Sqlite(raw), _postgres: None, dir: Some(dir) }
            }
        }
    }

    /// Closes the store and opens it again, as a restarted process would (migrations included).
    pub async fn restart(&mut self) {
        self.store.close().await;
        self.store = store::connect(&self.url).await.expect("open the store again");
    }

    /// Closes every connection to the database, so dropping it need not end them.
    pub async fn close(&self) {
        self.store.close().await;
        match &self.raw {
            Raw::Postgres(pool) => pool.close().await,
            Raw::Sqlite(pool) => pool.close().await,
        }
    }

    /// Runs a statement with raw access; `postgres` or `sqlite` is picked by backend.
    pub async fn exec(&self, postgres: &str, sqlite: &str) {
        match &self.raw {
            Raw::Postgres(pool) => sqlx::query(AssertSqlSafe(postgres)).execute(pool).await.map(drop),
            Raw::Sqlite(pool) => sqlx::query(AssertSqlSafe(sqlite)).execute(pool).await.map(drop),
        }
        .expect("run a raw statement");
    }

    /// How many migrations the migrations table records.
    pub async fn applied_migrations(&self) -> i64 {
        let sql = "SELECT count(*) AS n FROM _sqlx_migrations";
        match &self.raw {
            Raw::Postgres(pool) => sqlx::query(sql).fetch_one(pool).await.and_then(|row| row.try_get("n")),
            Raw::Sqlite(pool) => sqlx::query(sql).fetch_one(pool).await.and_then(|row| row.try_get("n")),
        }
        .expect("count applied migrations")
    }

    /// Everything the database holds, as text: every row of every table on PostgreSQL; the
    /// database file and its write-ahead log, byte for byte, on SQLite.
    pub async fn everything_stored(&self) -> String {
        match &self.raw {
            Raw::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .fetch_all(pool)
                .await
                .expect("list the tables");
                let mut text = String::new();
                for table in tables {
                    let rows: Vec<String> =
                        sqlx::query_scalar(AssertSqlSafe(format!("SELECT row_to_json(t)::text FROM {table} t")))
                            .fetch_all(pool)
                            .await
                            .expect("dump a table");
                    text.extend(rows);
                }
                text
            }
            Raw::Sqlite(_) => {
                let dir = self.dir.as_ref().expect("a SQLite test has a directory");
                let mut bytes = Vec::new();
                for name in ["store.db", "store.db-wal"] {
                    if let Ok(content) = std::fs::read(dir.path().join(name)) {
                        bytes.extend(content);
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }
    }
}
