use testkit::postgres::{TestDatabase, server};

async fn exists(name: &str) -> bool {
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", server())).await.unwrap();
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&admin)
        .await
        .unwrap();
    admin.close().await;
    found.is_some()
}

#[tokio::test]
async fn a_test_database_is_there_for_the_test_and_dropped_after() {
    let db = TestDatabase::create("testkit_it").await;
    let name = db.name.clone();
    assert!(name.starts_with("testkit_it_"), "{name}");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
    assert!(db.url_via(TestDatabase::server_addr()).ends_with(&format!("/{name}")));
    // Left open on purpose: dropping must end the connections a test forgot.
    drop(db);
    assert!(!exists(&name).await, "the database {name} is dropped with its TestDatabase");
    pool.close().await;
}
