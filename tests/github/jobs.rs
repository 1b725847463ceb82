//! Jobs as a user sees them on the GitHub job page: steps with their states, each step's log
//! text from inside the VM, live lines, outputs, a failing step, a cancellation.

use fake_github::{JobView, StepView};

use crate::harness::{DEADLINE, System, job};

/// One job shows several things at once, as every VM boot costs seconds under TCG: the guest
/// ran the step (its hostname is the VM's, not this host's), the step's log and live lines hold
/// what it printed, and an output set by a step reaches completejob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_shows_its_steps_logs_live_lines_and_outputs() {
    let Some(system) = System::start().await else { return };
    let mut spec = job(&[
        ("hello", "echo \"guest is $(hostname)\"\necho greeting=hi-from-the-guest >> \"$GITHUB_OUTPUT\""),
        ("second", "echo the second step"),
    ]);
    spec.outputs = vec![("greeting".to_owned(), "steps.hello.outputs.greeting".to_owned())];
    let (_, view, completion) = system.run(spec).await;
    let context = format!("{view:#?}\n{completion:#}\n{}", system.logs());

    assert_eq!(completion["conclusion"], "succeeded", "{context}");
    assert_eq!(view.outputs.get("greeting").map(String::as_str), Some("hi-from-the-guest"), "{context}");
    let hello = step(&view, "hello");
    assert_eq!((hello.status, hello.conclusion), ("completed", Some("success")), "{context}");
    let log = hello.log.clone().unwrap_or_default();
    let guest = log
        .iter()
        .find_map(|line| line.split("guest is ").nth(1).map(|name| name.trim().to_owned()))
        .unwrap_or_else(|| panic!("no hostname line in the hello step's log: {context}"));
    assert!(
        !guest.is_empty() && guest != hostname(),
        "the step ran on {guest:?}, this host is {:?}: {context}",
        hostname()
    );
    assert!(hello.live.iter().any(|line| line.contains("guest is ")), "the live console showed the line: {context}");
    let second = step(&view, "second");
    assert!(second.log.clone().unwrap_or_default().iter().any(|line| line.contains("the second step")), "{context}");
}

/// A failing step fails the job; the step after it is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_job_and_skips_the_rest() {
    let Some(system) = System::start().await else { return };
    let spec = job(&[("broken", "echo about to fail\nexit 3"), ("after", "echo never printed")]);
    let (_, view, completion) = system.run(spec).await;
    let context = format!("{view:#?}\n{completion:#}\n{}", system.logs());
    assert_eq!(completion["conclusion"], "failed", "{context}");
    let broken = step(&view, "broken");
    assert_eq!(broken.conclusion, Some("failure"), "{context}");
    assert!(broken.log.clone().unwrap_or_default().iter().any(|line| line.contains("about to fail")), "{context}");
    assert_eq!(step(&view, "after").conclusion, Some("skipped"), "{context}");
}

/// "Cancel workflow" while a step runs: the VM's step stops and the job ends cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_on_github_ends_cancelled() {
    let Some(system) = System::start().await else { return };
    let id = system.fake.queue(job(&[("long", "echo started\nsleep 600")]));
    let started = system
        .fake
        .wait_for(DEADLINE, |fake| {
            let view = fake.view(&id)?;
            view.steps
                .iter()
                .any(|step| step.name == "long" && step.live.iter().any(|line| line.contains("started")))
                .then_some(())
        })
        .await;
    assert!(started.is_some(), "the step started: {:#?}\n{}", system.fake.view(&id), system.logs());
    system.fake.cancel_job(&id);
    let (view, completion) = system.finished(&id).await;
    assert_eq!(completion["conclusion"], "canceled", "{view:#?}\n{completion:#}\n{}", system.logs());
}

pub fn step<'a>(view: &'a JobView, name: &str) -> &'a StepView {
    view.steps
        .iter()
        .find(|step| step.name == name)
        .unwrap_or_else(|| panic!("no step {name:?} on the page: {view:#?}"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned()
}
