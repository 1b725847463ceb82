//! A PostgreSQL database of its own per test on the server at 127.0.0.1:5432 (trust auth, user
//! `postgres`; `SOLSTICE_TEST_POSTGRES_URL` names another), dropped when the test ends, also
//! when it panics. Only databases made here are ever touched.

use std::net::SocketAddr;

use sqlx::AssertSqlSafe;

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// The server's URL, without a database.
pub fn server() -> String {
    std::env::var("SOLSTICE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

pub struct TestDatabase {
    /// The database's URL on the server itself.
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    /// A fresh database named `<prefix>_<ulid>`; `prefix` tells whose a forgotten one was.
    pub async fn create(prefix: &str) -> TestDatabase {
        let name = format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase());
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", server()))
            .await
            .expect("reach the PostgreSQL server the tests run against");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create a test database");
        admin.close().await;
        TestDatabase { url: format!("{}/{name}", server()), name }
    }

    /// Where the server listens, for a proxy in front of it.
    pub fn server_addr() -> SocketAddr {
        let server = server();
        let host_port = server.rsplit_once('@').map_or(server.as_str(), |(_, rest)| rest);
        let host_port = host_port.split('/').next().unwrap_or_default();
        host_port.parse().unwrap_or_else(|_| panic!("the PostgreSQL URL {server:?} names no IP address and port"))
    }

    /// This database's URL through `addr` (a proxy) instead of the server itself.
    pub fn url_via(&self, addr: SocketAddr) -> String {
        let server = server();
        let user = server.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map_or("postgres", |(u, _)| u);
        format!("postgres://{user}@{addr}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on a future: the database is
        // dropped from a thread with a runtime of its own. FORCE ends the connections a failed
        // test left open.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = sqlx::PgPool::connect(&format!("{}/postgres", server())).await?;
                sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        // A passing test that leaves its database behind fails; a failing one keeps its own
        // message rather than a second panic.
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("drop the test database {}: {dropped:?}", self.name);
        }
    }
}
