//! Forgejo tasks run through the bus by the real orchestrator (local executor): what the job's
//! page shows.

use std::time::Duration;

use fake_forgejo::{JobSpec, Status};

use crate::support::{LABEL, Site, signal};

const WAIT: Duration = Duration::from_secs(90);

fn spec(payload: &str, steps: &[&str]) -> JobSpec {
    JobSpec::new("build", payload, &[LABEL], steps)
}

#[tokio::test]
async fn a_job_runs_and_its_steps_rows_result_and_outputs_show_in_forgejo_and_in_the_metrics() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let metrics = testkit::scrape::free_local_addr();
    let mut daemon = site.start_daemon_with(&[("SOLSTICE_METRICS_ADDR", &metrics)]);
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    outputs:\n      greeting: ${{ steps.say.outputs.greeting }}\n    steps:\n      - name: hello\n        run: echo hello from the job\n      - name: say\n        id: say\n        run: echo greeting=hi >> \"$GITHUB_OUTPUT\"\n";
    let job = site.fake.add_job(spec(payload, &["hello", "say"]));
    let view = site.fake.wait_until_finished(job, WAIT).await.expect("the job ends");
    assert_eq!(view.status, Status::Success, "{view:#?}");
    let hello = view.step("hello").expect("the hello step");
    assert_eq!(hello.status, Status::Success);
    assert!(hello.rows.iter().any(|row| row.contains("hello from the job")), "{hello:#?}");
    assert_eq!(view.step("say").map(|step| step.status), Some(Status::Success));
    assert_eq!(view.outputs.get("greeting").map(String::as_str), Some("hi"), "{view:#?}");

    // The count follows the forge's answer to the last report: scrape until it shows, as
    // Prometheus would.
    let counted = "solstice_runner_jobs_total{forge=\"forgejo\",result=\"success\"} 1\n";
    testkit::scrape::scrape_until(&metrics, counted).await;
    testkit::scrape::scrape_until(&metrics, "solstice_runner_jobs_running{forge=\"forgejo\"} 0\n").await;
    assert_eq!(testkit::scrape::get(&metrics, "/healthz").await, "ok\n");
    signal(&daemon, libc::SIGTERM);
    let exit = tokio::time::timeout(WAIT, daemon.wait()).await.expect("stops").expect("waits");
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test]
async fn one_job_fails_a_task_no_orchestrator_serves_with_a_row_naming_the_label() {
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - run: echo hi\n";
    one_job_fails_with_a_row(payload, &["echo hi"], "no orchestrator serves label linux-test").await;
}

#[tokio::test]
async fn one_job_fails_a_payload_with_two_jobs_with_a_row_that_says_so() {
    let payload = "jobs:\n  a:\n    runs-on: linux-test\n    steps:\n      - run: echo a\n  b:\n    runs-on: linux-test\n    steps:\n      - run: echo b\n";
    one_job_fails_with_a_row(payload, &["echo a"], "holds 2 jobs").await;
}

/// `one-job` takes the waiting job, exits 1, and Forgejo shows it failed with a row holding `row`.
async fn one_job_fails_with_a_row(payload: &str, steps: &[&str], row: &str) {
    let site = Site::new().await;
    let job = site.fake.add_job(spec(payload, steps));
    let env = site.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let output = crate::run(site.dir.path(), &["one-job"], &env).await;
    assert_eq!(crate::code(&output), 1, "{}", crate::stderr(&output));
    assert_eq!(site.fake.view(job).map(|view| view.status), Some(Status::Failure));
    let rows = site.rows(job);
    assert!(rows.iter().any(|shown| shown.contains(row)), "{rows:#?}");
}

#[tokio::test]
async fn a_runner_killed_mid_job_resumes_after_a_restart_with_no_row_lost_or_doubled() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let mut first = site.start_daemon();
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: first\n        run: echo before the kill\n      - name: wait\n        run: sleep 4\n      - name: last\n        run: echo after the kill\n";
    let job = site.fake.add_job(spec(payload, &["first", "wait", "last"]));
    site.wait_for_row(job, "before the kill", WAIT).await;
    signal(&first, libc::SIGKILL);
    let _ = first.wait().await;

    let mut second = site.start_daemon();
    let view = site.fake.wait_until_finished(job, WAIT).await.expect("the job ends");
    assert_eq!(view.status, Status::Success, "{view:#?}");
    let rows = site.rows(job);
    let count = |text: &str| rows.iter().filter(|row| row.contains(text) && !row.contains("echo ")).count();
    assert_eq!(count("before the kill"), 1, "{rows:#?}");
    assert_eq!(count("after the kill"), 1, "{rows:#?}");
    assert!(view.step("last").is_some_and(|step| step.rows.iter().any(|row| row.contains("after the kill"))));
    signal(&second, libc::SIGTERM);
    let _ = tokio::time::timeout(WAIT, second.wait()).await;
}

#[tokio::test]
async fn a_cancel_in_forgejo_reaches_the_job_and_its_end_is_reported() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let _daemon = site.start_daemon();
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: long\n        run: echo started; sleep 300\n";
    let job = site.fake.add_job(spec(payload, &["long"]));
    site.wait_for_row(job, "started", WAIT).await;
    let cancelled_at = std::time::Instant::now();
    site.fake.cancel(job);
    // The fake marks the task and its steps cancelled at once. The runner closes the log (the
    // last rows with no_more) only once the job's end came back from the orchestrator: that the
    // cancel reached the job shows as a closed log well before the sleep or the 60 s silence
    // timeout could end it.
    let ended = site
        .fake
        .wait_for(WAIT, |snapshot| snapshot.view(job).filter(|view| view.log_archived))
        .await
        .expect("the runner closes the log");
    assert!(cancelled_at.elapsed() < Duration::from_secs(45), "closed after {:?}", cancelled_at.elapsed());
    assert_eq!(ended.status, Status::Cancelled, "{ended:#?}");
    assert_eq!(ended.step("long").map(|step| step.status), Some(Status::Cancelled));
    eprintln!("forge cancel to closed log: {:?}", cancelled_at.elapsed());
}

#[tokio::test]
async fn sigterm_stops_fetching_and_lets_the_running_job_finish() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let mut daemon = site.start_daemon();
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: slow\n        run: echo begun; sleep 3; echo done after sigterm\n";
    let job = site.fake.add_job(spec(payload, &["slow"]));
    site.wait_for_row(job, "begun", WAIT).await;
    signal(&daemon, libc::SIGTERM);
    let later = site.fake.add_job(spec(payload, &["slow"]));
    let exit = tokio::time::timeout(WAIT, daemon.wait()).await.expect("stops").expect("waits");
    assert_eq!(exit.code(), Some(0));
    let view = site.fake.view(job).expect("the job");
    assert_eq!(view.status, Status::Success, "{view:#?}");
    assert!(site.rows(job).iter().any(|row| row.contains("done after sigterm")));
    assert_eq!(site.fake.view(later).map(|view| view.status), Some(Status::Waiting), "no fetch after SIGTERM");
}

#[tokio::test]
async fn a_job_whose_orchestrator_goes_silent_for_60_s_fails_with_a_row_that_says_so() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let _daemon = site.start_daemon();
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: long\n        run: echo started; sleep 80\n";
    let job = site.fake.add_job(spec(payload, &["long"]));
    site.wait_for_row(job, "started", WAIT).await;
    // The killed orchestrator's agent is orphaned; its sleep outlasts the 60 s by a little only.
    let killed_at = std::time::Instant::now();
    site.kill_orchestrator().await;
    let view = site.fake.wait_until_finished(job, Duration::from_secs(120)).await.expect("the task ends");
    let after = killed_at.elapsed();
    assert_eq!(view.status, Status::Failure, "{view:#?}");
    assert!(after >= Duration::from_secs(55), "failed after {after:?}, before the heartbeats were missed for 60 s");
    let rows = site.rows(job);
    assert!(rows.iter().any(|row| row.contains("heartbeats stopped")), "{rows:#?}");
    assert!(view.log_archived, "the log is closed");
    eprintln!("orchestrator killed to task failed: {after:?}");
}

#[tokio::test]
async fn sigterm_cancels_a_job_that_outlasts_the_shutdown_timeout_and_still_reports_its_end() {
    let mut site = Site::new().await;
    std::fs::write(site.dir.path().join("runner.toml"), "fetch_interval_secs = 0.05\nshutdown_timeout_secs = 1\n")
        .expect("writes");
    site.start_orchestrator();
    let mut daemon = site.start_daemon();
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: long\n        run: echo started; sleep 300\n";
    let job = site.fake.add_job(spec(payload, &["long"]));
    site.wait_for_row(job, "started", WAIT).await;
    let stopped_at = std::time::Instant::now();
    signal(&daemon, libc::SIGTERM);
    let exit = tokio::time::timeout(WAIT, daemon.wait()).await.expect("stops").expect("waits");
    assert_eq!(exit.code(), Some(0));
    assert!(stopped_at.elapsed() < Duration::from_secs(60), "stopped after {:?}", stopped_at.elapsed());
    let view = site.fake.view(job).expect("the job");
    assert_eq!(view.status, Status::Cancelled, "{view:#?}");
    assert!(view.log_archived, "the runner reported the cancelled job's end before it exited");
}

#[tokio::test]
async fn forgejo_behind_a_proxy_answering_503_mid_job_still_gets_every_row_once() {
    let mut site = Site::new().await;
    site.start_orchestrator();
    let _daemon = site.start_daemon();
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: first\n        run: echo first line\n      - name: more\n        run: sleep 1; for i in 1 2 3; do echo line $i of the outage; done\n";
    let job = site.fake.add_job(spec(payload, &["first", "more"]));
    site.wait_for_row(job, "first line", WAIT).await;
    site.fake.proxy_down_for(Duration::from_secs(4));
    let view = site.fake.wait_until_finished(job, WAIT).await.expect("the job ends");
    assert_eq!(view.status, Status::Success, "{view:#?}");
    let rows = site.rows(job);
    for i in 1..=3 {
        let line = format!("line {i} of the outage");
        assert_eq!(rows.iter().filter(|row| row.ends_with(&line)).count(), 1, "{line}: {rows:#?}");
    }
    assert!(site.fake.calls().iter().any(|call| call.status == 503), "the outage was seen");
}
