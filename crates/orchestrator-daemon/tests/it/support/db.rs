//! A PostgreSQL database of its own per test, dropped when the test ends (also on panic).

use sqlx::AssertSqlSafe;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

fn server() -> String {
    std::env::var("SOLSTICE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned())
}

pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    /// Where PostgreSQL listens, for a proxy in front of it.
    pub fn server_addr() -> std::net::SocketAddr {
        let server = server();
        let host_port = server.rsplit_once('@').map_or(server.as_str(), |(_, rest)| rest);
        let host_port = host_port.split('/').next().unwrap_or_default();
        host_port.parse().unwrap_or_else(|_| panic!("the PostgreSQL URL {server:?} names no IP address and port"))
    }

    /// This database's URL through `addr` (a proxy) instead of the server itself.
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let server = server();
        let user = server.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map_or("postgres", |(u, _)| u);
        format!("postgres://{user}@{addr}/{}", self.name)
    }

    pub async fn create() -> TestDb {
        let name = format!("solstice_orch_it_{}", ulid::Ulid::new().to_string().to_lowercase());
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", server())).await.expect("reach PostgreSQL");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create a database");
        admin.close().await;
        TestDb { url: format!("{}/{name}", server()), name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
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
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database: {dropped:?}");
        }
    }
}
