//! Jobs GitHub offers, run through the bus by the real orchestrator (local executor): what the
//! fake's job page and completejob show.

use fake_github::{JobSpec, JobView, StepView};

use crate::support::{LABEL, Site, WAIT, signal};

fn spec(steps: &[(&str, &str)]) -> JobSpec {
    JobSpec::new("build", &[LABEL], steps)
}

fn conclusion(completion: &serde_json::Value) -> &str {
    completion["conclusion"].as_str().unwrap_or_default()
}

fn step<'a>(view: &'a JobView, name: &str) -> &'a StepView {
    view.steps.iter().find(|step| step.name == name).unwrap_or_else(|| panic!("no step {name:?}: {view:#?}"))
}

/// How many lines of the step's uploaded log are exactly `text` (the script's own echo
/// lines are longer).
fn log_count(step: &StepView, text: &str) -> usize {
    step.log.iter().flatten().filter(|line| line.trim() == text).count()
}

#[tokio::test]
async fn a_job_runs_and_completes_with_its_conclusion_and_outputs_and_the_metrics_count_it() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    let metrics = testkit::scrape::free_local_addr();
    site.extra.push(("SOLSTICE_METRICS_ADDR", metrics.clone()));
    let runner = site.start_runner();
    let mut job = spec(&[("hello", "echo hello from the job"), ("say", "echo greeting=hi >> \"$GITHUB_OUTPUT\"")]);
    job.outputs = vec![("greeting".to_owned(), "steps.say.outputs.greeting".to_owned())];
    let id = site.fake.queue(job);
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "succeeded", "{completion:#}");
    assert_eq!(completion["outputs"]["greeting"]["value"], "hi", "{completion:#}");
    let counted = "solstice_runner_jobs_total{forge=\"github\",result=\"succeeded\"} 1\n";
    testkit::scrape::scrape_until(&metrics, counted).await;
    testkit::scrape::scrape_until(&metrics, "solstice_runner_jobs_running{forge=\"github\"} 0\n").await;
    assert_eq!(testkit::scrape::get(&metrics, "/healthz").await, "ok\n");
    let view = site.fake.view(&id).expect("the job's page");
    let names: Vec<&str> = view.steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(names, ["Set up job", "hello", "say", "Complete job"], "{view:#?}");
    assert!(
        view.steps.iter().all(|step| step.status == "completed" && step.conclusion == Some("success")),
        "{view:#?}"
    );
    let hello = step(&view, "hello");
    assert_eq!(log_count(hello, "hello from the job"), 1, "{view:#?}");
    // The console is a best-effort side channel: its last batch may land just after completejob.
    let live = site
        .fake
        .wait_for(WAIT, |fake| {
            let view = fake.view(&id)?;
            step(&view, "hello").live.iter().any(|line| line.contains("hello from the job")).then_some(())
        })
        .await;
    assert!(live.is_some(), "shown live: {:#?}", site.fake.view(&id));
    let runner_id = site.fake.runners()[0].id;
    let online = site
        .fake
        .wait_for(WAIT, |fake| (fake.runner_status(runner_id).as_deref() == Some("Online")).then_some(()))
        .await;
    assert!(online.is_some(), "the runner is Online again after the job");
    assert_eq!(site.stop(runner).await, Some(0));
}

/// github.com's live feed is `wss://`: through a TLS terminator on a test CA the runner trusts
/// by `SOLSTICE_CA_FILE`, the lines still show live.
#[tokio::test]
async fn a_wss_live_feed_on_a_private_ca_shows_the_lines() {
    let mut site = Site::new().await;
    let ca = testkit::tls::TestCa::generate();
    let fake_addr: std::net::SocketAddr =
        site.fake.base_url().trim_start_matches("http://").parse().expect("the fake's address");
    let tls = testkit::tls::Terminator::start(&ca, fake_addr).await;
    site.extra.push(("SOLSTICE_CA_FILE", ca.ca_file().display().to_string()));
    site.configure(&[]).await;
    site.start_orchestrator(1);
    let runner = site.start_runner();
    let mut job = spec(&[("hello", "echo hello over tls")]);
    job.feed_base = Some(tls.url().replacen("https://", "wss://", 1));
    let id = site.fake.queue(job);
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "succeeded", "{completion:#}");
    let live = site
        .fake
        .wait_for(WAIT, |fake| {
            let view = fake.view(&id)?;
            step(&view, "hello").live.iter().any(|line| line.contains("hello over tls")).then_some(())
        })
        .await;
    assert!(live.is_some(), "shown live over wss: {:#?}", site.fake.view(&id));
    assert_eq!(site.stop(runner).await, Some(0));
}

#[tokio::test]
async fn a_failing_step_fails_the_job() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    let runner = site.start_runner();
    let id = site.fake.queue(spec(&[("broken", "echo about-to-fail; exit 3"), ("after", "echo never")]));
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "failed", "{completion:#}");
    let view = site.fake.view(&id).expect("the job's page");
    let broken = step(&view, "broken");
    assert_eq!(broken.conclusion, Some("failure"), "{view:#?}");
    assert_eq!(log_count(broken, "about-to-fail"), 1, "{view:#?}");
    assert_eq!(step(&view, "after").conclusion, Some("skipped"), "{view:#?}");
    assert_eq!(site.stop(runner).await, Some(0));
}

#[tokio::test]
async fn a_job_cancelled_on_github_ends_cancelled() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    let runner = site.start_runner();
    let id = site.fake.queue(spec(&[("long", "sleep 120")]));
    site.acquired(&id).await;
    site.fake.cancel_job(&id);
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "canceled", "{completion:#}");
    assert_eq!(site.stop(runner).await, Some(0));
}

#[tokio::test]
async fn count_two_runs_two_jobs_at_once() {
    let mut site = Site::new().await;
    site.configure(&["--count", "2"]).await;
    site.start_orchestrator(2);
    let runner = site.start_runner();
    let first = site.fake.queue(spec(&[("wait", "sleep 5")]));
    let second = site.fake.queue(spec(&[("wait", "sleep 5")]));
    let both = site
        .fake
        .wait_for(WAIT, |fake| {
            let acquired = |id: &str| matches!(fake.job_phase(id), Some(fake_github::JobPhase::Acquired { .. }));
            (acquired(&first) && acquired(&second)).then_some(())
        })
        .await;
    assert!(
        both.is_some(),
        "both jobs run at once: {:?} {:?}",
        site.fake.job_phase(&first),
        site.fake.job_phase(&second)
    );
    assert_eq!(conclusion(&site.completion(&first).await), "succeeded");
    assert_eq!(conclusion(&site.completion(&second).await), "succeeded");
    assert_eq!(site.stop(runner).await, Some(0));
}

#[tokio::test]
async fn an_ephemeral_runner_runs_one_job_removes_its_files_and_exits_0() {
    let mut site = Site::new().await;
    site.configure(&["--ephemeral"]).await;
    site.start_orchestrator(1);
    let mut runner = site.start_runner();
    let id = site.fake.queue(spec(&[("hello", "echo once")]));
    assert_eq!(conclusion(&site.completion(&id).await), "succeeded");
    let exit = tokio::time::timeout(WAIT, runner.wait()).await.expect("the runner exits by itself").expect("waits");
    assert_eq!(exit.code(), Some(0));
    assert!(!site.dir.path().join("github/solstice/.runner").exists(), "the registration's files are gone");
}

#[tokio::test]
async fn expired_tokens_mid_job_are_refreshed_and_the_job_completes() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    site.extra.push(("SOLSTICE_GITHUB_RENEW_INTERVAL", "0.5".to_owned()));
    let runner = site.start_runner();
    let id = site.fake.queue(spec(&[("wait", "sleep 3")]));
    site.acquired(&id).await;
    site.fake.expire_tokens();
    assert_eq!(conclusion(&site.completion(&id).await), "succeeded");
    // The next job needs a fresh token for the broker and acquirejob.
    let next = site.fake.queue(spec(&[("hello", "echo again")]));
    assert_eq!(conclusion(&site.completion(&next).await), "succeeded");
    assert_eq!(site.stop(runner).await, Some(0));
}

#[tokio::test]
async fn the_lease_is_renewed_across_a_long_step() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    site.extra.push(("SOLSTICE_GITHUB_RENEW_INTERVAL", "0.5".to_owned()));
    let runner = site.start_runner();
    let id = site.fake.queue(spec(&[("long", "sleep 4")]));
    assert_eq!(conclusion(&site.completion(&id).await), "succeeded");
    let renewals = site.fake.renewals(&id).unwrap_or_default();
    // One before the start, then one every half second of a four-second step.
    assert!(renewals >= 4, "renewed {renewals} times");
    assert_eq!(site.stop(runner).await, Some(0));
}

#[tokio::test]
async fn a_runner_killed_mid_job_completes_it_after_a_restart() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    site.extra.push(("SOLSTICE_GITHUB_RENEW_INTERVAL", "0.5".to_owned()));
    let mut first = site.start_runner();
    let id = site.fake.queue(spec(&[
        ("first", "echo before-the-kill"),
        ("wait", "sleep 4"),
        ("last", "echo after-the-kill"),
    ]));
    // The renewals after the first come once the job is saved and published.
    let running = site.fake.wait_for(WAIT, |fake| fake.renewals(&id).filter(|n| *n >= 2)).await;
    assert!(running.is_some(), "the job runs: {:?}", site.fake.job_phase(&id));
    signal(&first, libc::SIGKILL);
    let _ = first.wait().await;
    let second = site.start_runner();
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "succeeded", "{completion:#}");
    let view = site.fake.view(&id).expect("the job's page");
    assert_eq!(log_count(step(&view, "first"), "before-the-kill"), 1, "no line lost or doubled: {view:#?}");
    assert_eq!(log_count(step(&view, "last"), "after-the-kill"), 1, "no line lost or doubled: {view:#?}");
    let job_log = view.log.clone().unwrap_or_default();
    assert_eq!(job_log.iter().filter(|line| line.trim() == "before-the-kill").count(), 1, "{job_log:#?}");
    assert_eq!(site.stop(second).await, Some(0));
}

#[tokio::test]
async fn an_orchestrator_silent_for_the_limit_fails_the_job_saying_why() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    site.extra.push(("SOLSTICE_GITHUB_SILENCE", "3".to_owned()));
    let runner = site.start_runner();
    let id = site.fake.queue(spec(&[("long", "sleep 120")]));
    site.acquired(&id).await;
    // Whether or not it took the job yet, nothing more comes from it.
    site.kill_orchestrator().await;
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "failed", "{completion:#}");
    let view = site.fake.view(&id).expect("the job's page");
    let said = view.annotations.iter().any(|annotation| annotation.to_string().contains("sent nothing for 3 s"));
    assert!(said, "an annotation says why: {view:#?}");
    assert_eq!(site.stop(runner).await, Some(0));
}

#[tokio::test]
async fn a_jit_runner_runs_one_job_and_exits_0_leaving_no_files() {
    let mut site = Site::new().await;
    site.start_orchestrator(1);
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}repos/octo/hello/actions/runners/generate-jitconfig", site.fake.api_url()))
        .bearer_auth(site.fake.admin_token())
        .json(&serde_json::json!({"name": "jit-1", "runner_group_id": 1, "labels": ["self-hosted", LABEL]}))
        .send()
        .await
        .expect("generate-jitconfig answers")
        .json()
        .await
        .expect("JSON");
    let jit = answer["encoded_jit_config"].as_str().expect("a JIT config").to_owned();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_github-runner"));
    command.args(["run", "--jitconfig", &jit, "--labels", LABEL]).current_dir(site.dir.path()).kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("SOLSTICE_") {
            command.env_remove(name);
        }
    }
    command.envs(site.env()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut runner = command.spawn().expect("the runner starts");
    let id = site.fake.queue(spec(&[("hello", "echo from-the-jit-runner")]));
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "succeeded", "{completion:#}");
    let view = site.fake.view(&id).expect("the job's page");
    assert_eq!(log_count(step(&view, "hello"), "from-the-jit-runner"), 1, "{view:#?}");
    let exit = tokio::time::timeout(WAIT, runner.wait()).await.expect("the runner exits by itself").expect("waits");
    assert_eq!(exit.code(), Some(0));
    assert!(!site.dir.path().join("github/jit-1/.runner").exists(), "the JIT runner's files are gone");
}

#[tokio::test]
async fn sigterm_lets_the_running_job_finish_then_exits_0() {
    let mut site = Site::new().await;
    site.configure(&[]).await;
    site.start_orchestrator(1);
    let mut runner = site.start_runner();
    let id = site.fake.queue(spec(&[("slow", "echo started; sleep 3; echo finished-after-sigterm")]));
    let started = site
        .fake
        .wait_for(WAIT, |fake| {
            let view = fake.view(&id)?;
            view.steps.iter().any(|step| step.live.iter().any(|line| line.trim() == "started")).then_some(())
        })
        .await;
    assert!(started.is_some(), "the step started: {:#?}", site.fake.view(&id));
    signal(&runner, libc::SIGTERM);
    let completion = site.completion(&id).await;
    assert_eq!(conclusion(&completion), "succeeded", "{completion:#}");
    let view = site.fake.view(&id).expect("the job's page");
    assert_eq!(log_count(step(&view, "slow"), "finished-after-sigterm"), 1, "{view:#?}");
    let exit = tokio::time::timeout(WAIT, runner.wait()).await.expect("the runner exits").expect("waits");
    assert_eq!(exit.code(), Some(0));
}
