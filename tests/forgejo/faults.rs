//! What the user sees when something goes wrong between the forge and the VM: a cancel from the
//! UI, the runner killed and restarted, the orchestrator gone silent, the forge answering 503.

use std::time::Duration;

use fake_forgejo::{FakeForgejo, JobHandle, Status};

use crate::harness::{DEADLINE, LABEL, System, job};
use crate::jobs::rows;

/// Rows `line-1` … `line-<count>`, one every `pause` seconds.
fn counting(count: u32, pause: &str) -> String {
    format!(
        "jobs:\n  build:\n    runs-on: {LABEL}\n    steps:\n\
         \x20     - name: count\n        run: |\n          for i in $(seq 1 {count}); do echo line-$i; sleep {pause}; done\n"
    )
}

/// Waits until a row of the job is `text` (a script line echoed at the step's start holds more).
async fn row_shows(system: &System, job: JobHandle, text: &str) {
    let seen = system
        .fake
        .wait_for(DEADLINE, |snapshot| {
            let view = snapshot.view(job)?;
            view.steps.iter().any(|step| step.rows.iter().any(|row| row == text)).then_some(())
        })
        .await;
    if seen.is_err() {
        panic!("no row {text:?} within {DEADLINE:?}: {:#?}\n{}", system.fake.view(job), system.logs());
    }
}

/// The step's rows are exactly `line-1` … `line-<count>`, each once, in order.
fn assert_every_line_once(fake: &FakeForgejo, job: JobHandle, count: u32, logs: &str) {
    let view = fake.view(job).expect("the job is the fake's");
    let lines: Vec<String> =
        rows(&view, "count").iter().filter(|row| row.starts_with("line-")).map(|row| row.trim().to_owned()).collect();
    let expected: Vec<String> = (1..=count).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines, expected, "{view:#?}\n{logs}");
}

/// A cancel from the job page mid-`sleep` ends the job as cancelled and the VM goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_the_forge_stops_the_vm() {
    let Some(system) = System::start().await else { return };
    let payload = format!(
        "jobs:\n  build:\n    runs-on: {LABEL}\n    steps:\n\
         \x20     - name: wait\n        run: |\n          echo waiting now\n          sleep 300\n          echo never printed\n"
    );
    let job = system.fake.add_job(job(&payload, &["wait"]));
    row_shows(&system, job, "waiting now").await;
    system.fake.cancel(job);

    let view = system.finished(job).await;
    assert_eq!(view.status, Status::Cancelled, "{view:#?}\n{}", system.logs());
    // The VM's processes going is what shows the cancel reached the orchestrator: the step
    // would otherwise sleep for five minutes.
    system.assert_no_vm_left().await;
    let view = system.fake.view(job).expect("the job is the fake's");
    assert!(view.steps.iter().flat_map(|step| &step.rows).all(|row| row != "never printed"), "{view:#?}");
}

/// The runner SIGKILLed mid-job and started again on its state: the job finishes, and every
/// row the step printed is on the page once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_mid_job_and_restarted_loses_and_repeats_no_row() {
    let Some(mut system) = System::start().await else { return };
    let job = system.fake.add_job(job(&counting(40, "0.25"), &["count"]));
    row_shows(&system, job, "line-5").await;
    system.runner.child.kill_9();
    system.runner.restart();

    let view = system.finished(job).await;
    let logs = system.logs();
    assert_eq!(view.status, Status::Success, "{view:#?}\n{logs}");
    assert_every_line_once(&system.fake, job, 40, &logs);
    system.assert_no_vm_left().await;
}

/// The orchestrator stopped (SIGSTOP) mid-job: after 60 s without a word the runner fails the
/// task, and the page says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_gone_silent_fails_the_task_saying_so() {
    let Some(system) = System::start().await else { return };
    let payload = format!(
        "jobs:\n  build:\n    runs-on: {LABEL}\n    steps:\n\
         \x20     - name: slow\n        run: |\n          echo started\n          sleep 5\n          echo finished\n"
    );
    let job = system.fake.add_job(job(&payload, &["slow"]));
    row_shows(&system, job, "started").await;
    system.orchestrator.child.signal(libc::SIGSTOP);

    let view = system.finished(job).await;
    let logs = system.logs();
    // Let it go on, so it tears its VM down rather than leave it to the drop's SIGKILL.
    system.orchestrator.child.signal(libc::SIGCONT);
    assert_eq!(view.status, Status::Failure, "{view:#?}\n{logs}");
    let everything: Vec<&String> = view.steps.iter().flat_map(|step| &step.rows).collect();
    assert!(
        everything.iter().any(|row| row.contains("Nothing was heard about this job for 60 s")),
        "{view:#?}\n{logs}"
    );
    let stopped = view.stopped.zip(view.started).map(|(stopped, started)| stopped - started);
    assert!(stopped.is_some_and(|took| took >= time::Duration::seconds(60)), "{view:#?}");
    // Woken again, the orchestrator ends the job (or gives it up) and its VM goes.
    system.assert_no_vm_left().await;
}

/// The forge answers 503 for 20 s while a step prints: once it is back, every row is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forge_answering_503_for_20_s_loses_no_row() {
    let Some(system) = System::start().await else { return };
    let job = system.fake.add_job(job(&counting(60, "0.5"), &["count"]));
    row_shows(&system, job, "line-3").await;
    system.fake.proxy_down_for(Duration::from_secs(20));

    let view = system.finished(job).await;
    let logs = system.logs();
    assert_eq!(view.status, Status::Success, "{view:#?}\n{logs}");
    assert_every_line_once(&system.fake, job, 60, &logs);
    // The outage really hit the runner's calls while the step printed.
    let refused = system.fake.calls().iter().filter(|call| call.status == 503).count();
    assert!(refused > 0, "no call was answered 503: {logs}");
    system.assert_no_vm_left().await;
}
