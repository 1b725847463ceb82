//! Migrations, and what `connect` says about URLs and databases it cannot use.

use crate::db::TestDb;
use crate::fixture::{A, at, job_ids, request};

pub async fn migrations_applied_twice_change_nothing(db: &mut TestDb) {
    let [job] = job_ids();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    let before = db.store.job(job).await.unwrap();
    assert_eq!(db.applied_migrations().await, 1);

    db.restart().await;
    assert_eq!(db.applied_migrations().await, 1);
    assert_eq!(db.store.job(job).await.unwrap(), before);
}

#[tokio::test]
async fn an_unknown_scheme_is_refused_without_echoing_the_url() {
    let error = store::connect("mysql://root:hunter2@db/solstice").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "open the store: `mysql` is not a database we support (use postgres://… or sqlite://…)"
    );
    assert!(!error.is_unavailable());
}

#[tokio::test]
async fn a_database_out_of_reach_is_unavailable() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let error = store::connect("postgres://postgres@127.0.0.1:1/solstice").await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    assert_eq!(error.to_string(), "connect to PostgreSQL: the database is unavailable");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/missing/dir/store.db", dir.path().display());
    let error = store::connect(&url).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}
