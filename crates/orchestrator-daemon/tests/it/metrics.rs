//! `/metrics` and `/healthz` as an operator's scraper sees them.

use bus::{Bus, Consumer};
use contract::JobResult;

use crate::support::daemon::{Dirs, InProcess, settings};
use crate::support::runner::{self, Events, request};
use testkit::postgres::TestDatabase;
use testkit::rabbitmq::TestVhost;

#[tokio::test]
async fn a_finished_job_is_counted_with_its_phases_and_the_daemon_reports_healthy() {
    let (vhost, db, dirs) = (TestVhost::create(), TestDatabase::create("solstice_orch_it").await, Dirs::new());
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut slots = bus.subscribe_slots().await.unwrap();
    // A port the kernel just handed out and released; the daemon binds it again.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut settings = settings(&vhost.url(), &db.url, dirs.state.path(), dirs.agents.path());
    settings.metrics_addr = Some(addr);
    let daemon = InProcess::start(settings);
    // The first advert says the daemon consumes its label's queue.
    tokio::time::timeout(runner::DEADLINE, slots.next()).await.expect("a slot advert").unwrap();

    let job = request("build");
    bus.publish_job(&job).await.unwrap();
    assert_eq!(events.finished(job.job_id).await.0, JobResult::Success);

    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    for expected in [
        "solstice_jobs_total{result=\"success\"} 1\n",
        "solstice_phase_seconds_count{phase=\"pickup\"} 1\n",
        "solstice_phase_seconds_count{phase=\"first_line\"} 1\n",
        "solstice_phase_seconds_count{phase=\"finish\"} 1\n",
        "solstice_jobs_running 0\n",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    daemon.stop().await.expect("a clean shutdown");
}
