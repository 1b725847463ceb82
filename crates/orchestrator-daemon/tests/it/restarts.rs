//! Restarts and take-overs: a started attempt whose orchestrator died is failed with a clear
//! message, never run again.

use std::process::{Child, Command, Stdio};

use contract::{Event, JobResult};

use crate::jobs::publish;
use crate::support::daemon::{Dirs, InProcess, key, settings};
use crate::support::runner::{self, Events, request};
use testkit::postgres::TestDatabase;
use testkit::rabbitmq::TestVhost;

fn spawn_binary(vhost: &TestVhost, db: &TestDatabase, dirs: &Dirs) -> Child {
    let key = key().to_base64();
    Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .env("SOLSTICE_AMQP_URL", vhost.url())
        .env("SOLSTICE_DATABASE_URL", &db.url)
        .env("SOLSTICE_STATE_DIR", dirs.state.path())
        .env("SOLSTICE_AGENT_DIR", dirs.agents.path())
        .env("SOLSTICE_BUS_KEY", key.expose())
        .env("SOLSTICE_LABELS", runner::LABEL)
        .env("SOLSTICE_EXECUTOR", "local")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the orchestrator binary")
}

/// SIGKILL by the child's own pid.
fn kill_9(child: &mut Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    child.wait().unwrap();
}

#[tokio::test]
async fn an_orchestrator_killed_mid_job_fails_the_attempt_when_it_restarts() {
    let (vhost, db, dirs) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await, Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut first = spawn_binary(&vhost, &db, &dirs);
    let job = request("wait");
    publish(&bus, &job).await;
    events.step_started(job.job_id).await;
    kill_9(&mut first);

    let mut second = spawn_binary(&vhost, &db, &dirs);
    let (result, error) = events.finished(job.job_id).await;
    assert_eq!(result, JobResult::Failure);
    assert_eq!(error.as_deref(), Some(orchestrator::RESTARTED));
    let seen = events.by_job[&job.job_id].clone();
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seen.len() as u64).collect::<Vec<_>>(), "seq continues after the restart: {seen:#?}");
    assert_eq!(seen.iter().filter(|e| matches!(e.event, Event::Accepted { .. })).count(), 1, "never re-run");

    // The redelivered request is not run again either; a new job runs normally.
    let next = request("build");
    publish(&bus, &next).await;
    assert_eq!(events.finished(next.job_id).await.0, JobResult::Success);
    assert_eq!(events.by_job[&job.job_id].len(), seen.len(), "nothing more for the failed job");
    let pid = i32::try_from(second.id()).unwrap();
    // SAFETY: as above; SIGTERM asks for the graceful shutdown.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert!(second.wait().unwrap().success(), "a clean shutdown exits 0");
}

#[tokio::test]
async fn a_peer_whose_lease_expired_has_its_started_attempt_failed() {
    let (vhost, db, dirs) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await, Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    // A peer that started a job and then vanished: its lease ran out an hour ago.
    let store = store::connect(&db.url).await.unwrap();
    let job = request("wait");
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    store.heartbeat("orch-gone", hour_ago, time::Duration::seconds(30)).await.unwrap();
    store.record_job(&job, "orch-gone", hour_ago).await.unwrap();
    store.start_attempt(job.job_id, 1, "orch-gone", hour_ago).await.unwrap();
    store.next_seqs(job.job_id, 1, 3).await.unwrap();

    let daemon = InProcess::start(settings(&vhost.url(), &db.url, dirs.state.path(), dirs.agents.path()));
    let (result, error) = events.finished(job.job_id).await;
    assert_eq!(result, JobResult::Failure);
    assert_eq!(error.as_deref(), Some(orchestrator::RESTARTED));
    assert_eq!(events.by_job[&job.job_id][0].seq, 4, "seq continues after the peer's mark");
    // The event goes out first, then the store records the end.
    let deadline = tokio::time::Instant::now() + runner::DEADLINE;
    let attempt = loop {
        let record = store.job(job.job_id).await.unwrap().unwrap();
        if record.attempts[0].result.is_some() {
            break record.attempts[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the store never recorded the end: {record:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(attempt.result, Some(JobResult::Failure));
    assert_ne!(attempt.orchestrator_id, "orch-gone");
    store.close().await;
    daemon.stop().await.unwrap();
}
