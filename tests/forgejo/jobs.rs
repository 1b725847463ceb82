//! Jobs as a user sees them on the job page: step names and results, the rows inside each
//! step's range, outputs, a failing step, continue-on-error, a masked secret.

use fake_forgejo::{COMPLETE_JOB, JobView, SET_UP_JOB, Status};

use crate::harness::{LABEL, System, job};

const SECRET: &str = "hunter2-e2e-7c1d";

/// One job shows several things at once, as every VM boot costs seconds under TCG: the guest
/// ran the step (its hostname is the VM's, not this host's), an output set by a step reaches
/// the job's outputs, a failing step with continue-on-error shows failure while the job
/// succeeds, and a secret printed by a step is masked in its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_shows_its_steps_rows_outputs_and_masks_its_secret() {
    let Some(system) = System::start().await else { return };
    let payload = format!(
        "jobs:\n  build:\n    runs-on: {LABEL}\n    outputs:\n      greeting: ${{{{ steps.hello.outputs.greeting }}}}\n    steps:\n\
         \x20     - name: hello\n        id: hello\n        run: |\n          echo \"guest is $(hostname)\"\n          echo greeting=hi-from-the-guest >> \"$GITHUB_OUTPUT\"\n\
         \x20     - name: allowed to fail\n        continue-on-error: true\n        run: |\n          echo about to fail\n          exit 3\n\
         \x20     - name: secret\n        run: echo \"the token is ${{{{ secrets.TOKEN }}}}\"\n"
    );
    let mut spec = job(&payload, &["hello", "allowed to fail", "secret"]);
    spec.secrets.insert("TOKEN".into(), SECRET.into());
    let (_, view) = system.run(spec).await;
    let context = format!("{view:#?}\n{}", system.logs());

    assert_eq!(view.status, Status::Success, "{context}");
    let names: Vec<&str> = view.steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(names, [SET_UP_JOB, "hello", "allowed to fail", "secret", COMPLETE_JOB], "{context}");
    let statuses: Vec<Status> = view.steps.iter().map(|step| step.status).collect();
    assert_eq!(
        statuses,
        [Status::Success, Status::Success, Status::Failure, Status::Success, Status::Success],
        "{context}"
    );

    // "Set up job" holds what happened before the first step: the VM booting the label.
    let setup = rows(&view, SET_UP_JOB);
    assert!(setup.iter().any(|row| row == &format!("vm booting {LABEL}")), "{context}");
    assert!(!rows(&view, COMPLETE_JOB).is_empty(), "{context}");

    let hello = printed(&view, "hello");
    let host = hostname();
    let guest = hello
        .iter()
        .find_map(|row| row.strip_prefix("guest is ").map(|name| name.trim().to_owned()))
        .unwrap_or_else(|| panic!("no hostname row in the hello step: {context}"));
    assert!(!guest.is_empty() && guest != host, "the step ran on {guest:?}, this host is {host:?}: {context}");
    assert_eq!(view.outputs.get("greeting").map(String::as_str), Some("hi-from-the-guest"), "{context}");

    assert!(printed(&view, "allowed to fail").iter().any(|row| row == "about to fail"), "{context}");
    let secret = printed(&view, "secret");
    assert!(secret.iter().any(|row| row == "the token is ***"), "{context}");
    let everything: Vec<String> = view.steps.iter().flat_map(|step| step.rows.clone()).collect();
    assert!(everything.iter().all(|row| !row.contains(SECRET)), "the secret shows: {context}");
    system.assert_no_vm_left().await;
}

/// A failing step fails the job; the steps after it do not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_job_and_skips_the_rest() {
    let Some(system) = System::start().await else { return };
    let payload = format!(
        "jobs:\n  build:\n    runs-on: {LABEL}\n    steps:\n\
         \x20     - name: breaks\n        run: |\n          echo breaking now\n          exit 7\n\
         \x20     - name: never\n        run: echo should not run\n"
    );
    let (_, view) = system.run(job(&payload, &["breaks", "never"])).await;
    let context = format!("{view:#?}\n{}", system.logs());

    assert_eq!(view.status, Status::Failure, "{context}");
    let breaks = view.step("breaks").unwrap_or_else(|| panic!("no step breaks: {context}"));
    assert_eq!(breaks.status, Status::Failure, "{context}");
    assert!(printed(&view, "breaks").iter().any(|row| row == "breaking now"), "{context}");
    let never = view.step("never").unwrap_or_else(|| panic!("no step never: {context}"));
    assert_eq!(never.status, Status::Skipped, "{context}");
    assert!(view.steps.iter().flat_map(|step| &step.rows).all(|row| row != "should not run"), "{context}");
    system.assert_no_vm_left().await;
}

/// The rows inside the named step's range.
pub fn rows<'a>(view: &'a JobView, name: &str) -> &'a [String] {
    view.step(name)
        .map(|step| step.rows.as_slice())
        .unwrap_or_else(|| panic!("no step {name:?} on the page: {view:#?}"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned()
}

/// What the named step's script printed: its rows after the group that echoes the script
/// (`##[group]Run …` … `##[endgroup]`), so a script line is never taken for its output.
pub fn printed<'a>(view: &'a JobView, name: &str) -> &'a [String] {
    let rows = rows(view, name);
    let start = rows.iter().position(|row| row == "##[endgroup]").map_or(0, |end| end + 1);
    &rows[start..]
}
