//! What the runner's registration options mean for a user, with real VMs: `--count 2` runs two
//! jobs at once, the job lease is renewed and an expired OAuth token refreshed while a long step
//! runs, and `--ephemeral` runs one job and leaves no runner behind, on GitHub or on disk.

use std::time::Duration;

use fake_github::JobPhase;

use crate::harness::{DEADLINE, Setup, System, job};
use crate::jobs::step;

/// A step long enough for several renewals at the test's one-second interval.
const LONG_STEP: &str = "echo started\nsleep 8\necho finished";

/// Two registrations (`--count 2`) hold one job each at the same time, both VMs running; GitHub
/// expires every runner token mid-step, and the runner refreshes its token on the 401 (ref §2),
/// keeps renewing both leases, and, its token fresh, takes a third job afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_two_runs_two_jobs_at_once_renewing_leases_across_a_token_refresh() {
    let setup = Setup { configure: &["--count", "2"], env: &[("SOLSTICE_GITHUB_RENEW_INTERVAL", "1")], vms: 2 };
    let Some(system) = System::start_with(setup).await else { return };
    let first = system.fake.queue(job(&[("long", LONG_STEP)]));
    let second = system.fake.queue(job(&[("long", LONG_STEP)]));

    // Both steps print their first line before either ends: the two jobs run at once.
    let started = |fake: &fake_github::FakeGithub, id: &str| {
        fake.view(id).is_some_and(|view| {
            view.steps.iter().any(|step| step.name == "long" && step.live.iter().any(|line| line.contains("started")))
        }) && fake.completion(id).is_none()
    };
    let both =
        system.fake.wait_for(DEADLINE, |fake| (started(fake, &first) && started(fake, &second)).then_some(())).await;
    assert!(
        both.is_some(),
        "both jobs run at once: {:?} {:?}\n{}",
        system.fake.job_phase(&first),
        system.fake.job_phase(&second),
        system.logs()
    );
    let holders = [&first, &second].map(|id| match system.fake.job_phase(id) {
        Some(JobPhase::Acquired { runner_id }) => runner_id,
        other => panic!("job {id} is not held by a runner: {other:?}"),
    });
    assert_ne!(holders[0], holders[1], "each registration holds one job");
    let renewed_before = [&first, &second].map(|id| system.fake.renewals(id).unwrap_or_default());
    system.fake.expire_tokens();

    for (id, before) in [(&first, renewed_before[0]), (&second, renewed_before[1])] {
        let (view, completion) = system.finished(id).await;
        let context = format!("{view:#?}\n{completion:#}\n{}", system.logs());
        assert_eq!(completion["conclusion"], "succeeded", "{context}");
        let log = step(&view, "long").log.clone().unwrap_or_default();
        assert!(log.iter().any(|line| line.contains("finished")), "{context}");
        // Eight seconds of step at one renewal a second, after the tokens expired.
        let after = system.fake.renewals(id).unwrap_or_default() - before;
        assert!(after >= 4, "job {id}: {after} renewals during the step after the token expiry\n{context}");
    }

    // Broker polls and acquirejob need the runner's OAuth token: a third job runs only with a
    // fresh one.
    let (_, view, completion) = system.run(job(&[("again", "echo once more")])).await;
    assert_eq!(completion["conclusion"], "succeeded", "{view:#?}\n{completion:#}\n{}", system.logs());
}

/// An ephemeral runner runs one job; GitHub then deletes it, the runner removes its files and
/// exits 0, and the runners page lists nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_runner_runs_one_job_then_is_gone_from_github_and_disk() {
    let setup = Setup { configure: &["--ephemeral"], ..Setup::default() };
    let Some(mut system) = System::start_with(setup).await else { return };
    assert_eq!(system.fake.runners().len(), 1, "registered: {:?}", system.fake.runners());
    let (_, view, completion) = system.run(job(&[("hello", "echo \"guest is $(hostname)\"")])).await;
    assert_eq!(completion["conclusion"], "succeeded", "{view:#?}\n{completion:#}\n{}", system.logs());

    // The wait blocks this thread; the fake the runner still talks to runs on the other workers.
    let exit = tokio::task::block_in_place(|| system.runner.child.exit_within(Duration::from_secs(60)));
    assert_eq!(exit.and_then(|status| status.code()), Some(0), "the runner exits 0 by itself\n{}", system.logs());
    assert!(system.fake.runners().is_empty(), "GitHub lists no runner: {:?}", system.fake.runners());
    let left: Vec<_> = std::fs::read_dir(system.runner.registrations())
        .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no registration left on disk: {left:?}");
}
