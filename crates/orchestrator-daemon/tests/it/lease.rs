//! A daemon that loses its database cannot renew its lease: it stops its jobs and exits 3
//! before the lease expires, so no peer takes its jobs over while it still runs them.

use std::process::Command;
use std::time::Duration;

use contract::JobResult;
use sqlx::Row;

use crate::jobs::publish;
use crate::support::daemon::{Dirs, Spawned, binary, key};
use crate::support::runner::{self, Events, request};
use testkit::leftovers::processes_naming;
use testkit::postgres::TestDatabase;
use testkit::proxy::Proxy;
use testkit::rabbitmq::TestVhost;

/// Short, so the test is; the daemon gives up after half of it.
const LEASE_TTL: Duration = Duration::from_secs(6);

fn orchestrator(vhost: &TestVhost, database_url: &str, dirs: &Dirs) -> Command {
    let config = dirs.state.path().join("orchestrator.toml");
    std::fs::write(&config, format!("lease_ttl_secs = {}\n", LEASE_TTL.as_secs())).unwrap();
    let mut command = binary(Command::new(env!("CARGO_BIN_EXE_orchestrator")));
    command
        .arg("--config")
        .arg(&config)
        .env("SOLSTICE_AMQP_URL", vhost.url())
        .env("SOLSTICE_DATABASE_URL", database_url)
        .env("SOLSTICE_STATE_DIR", dirs.state.path())
        .env("SOLSTICE_AGENT_DIR", dirs.agents.path())
        .env("SOLSTICE_BUS_KEY", key().to_base64().expose())
        .env("SOLSTICE_LABELS", runner::LABEL)
        .env("SOLSTICE_EXECUTOR", "local");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_cannot_renew_its_lease_stops_its_jobs_and_exits_3_before_the_lease_expires() {
    let (vhost, db, dirs) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await, Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let proxy = Proxy::serve(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), TestDatabase::server_addr());
    let mut daemon = Spawned::start(orchestrator(&vhost, &db.url_via(proxy.addr), &dirs));
    let job = request("wait");
    publish(&bus, &job).await;
    events.step_started(job.job_id).await;
    assert!(!processes_naming(dirs.agents.path()).is_empty(), "the job's agent runs");

    let cut = tokio::time::Instant::now();
    proxy.cut();
    let status = daemon.exit_within(LEASE_TTL * 2).await;
    let exited = time::OffsetDateTime::now_utc();
    let took = cut.elapsed();
    let log = daemon.log();
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("orchestrator: failed to keep the orchestrator's lease: not renewed for"), "{log}");
    // It kept retrying for half the ttl since its last renewal, which was at most a third of
    // the ttl before the cut.
    assert!(took >= LEASE_TTL / 6, "gave up {took:?} after the cut, without retrying");
    assert!(took < LEASE_TTL, "took {took:?} to give up");
    let processes = processes_naming(dirs.agents.path());
    assert!(processes.is_empty(), "the job's agent outlived the daemon: {processes:#?}");

    // The lease the database holds had not run out when the daemon was gone.
    let expires = lease_expiry(&db, dirs.state.path()).await;
    eprintln!("gave up {took:?} after the cut, {:?} before the lease expired", expires - exited);
    assert!(exited < expires, "exited at {exited}, after its lease expired at {expires}");

    // Back with its database, the daemon fails the attempt it could not finish and runs jobs.
    let mut again = Spawned::start(orchestrator(&vhost, &db.url, &dirs));
    let (result, error) = events.finished(job.job_id).await;
    assert_eq!(result, JobResult::Failure);
    assert_eq!(error.as_deref(), Some(orchestrator::RESTARTED));
    let next = request("build");
    publish(&bus, &next).await;
    assert_eq!(events.finished(next.job_id).await, (JobResult::Success, None));
    assert!(again.terminate(runner::DEADLINE).await.success(), "{}", again.log());
}

/// When the lease of the daemon whose state dir is `state` expires, as the database says.
pub async fn lease_expiry(db: &TestDatabase, state: &std::path::Path) -> time::OffsetDateTime {
    let id = orchestrator_daemon::orchestrator_id(state).unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let row = sqlx::query("SELECT expires_at FROM leases WHERE orchestrator_id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    row.get("expires_at")
}
