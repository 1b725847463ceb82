//! Jobs that boot the real image and run the real agent in it.

use std::time::Duration;

use contract::{Event, JobResult, Outcome, Template};
use orchestrator::AgentOutput;
use tokio::time::Instant;
use vm::NetworkMode;

use crate::{
    LABEL, Setup, cancel, collect, collect_until, events, exited, finished, in_test_netns, request, start,
    start_with_key, step_log,
};

#[test]
fn a_job_runs_in_the_guest_and_sees_its_own_hostname() {
    in_test_netns(|| async {
        let setup = Setup::new();
        let executor = setup.executor();
        let key = contract::BusKey::generate().unwrap();
        let mut request =
            request(LABEL, &["hostname", "id -un", "echo \"token=$TOKEN\"", "cat ~/.ssh/authorized_keys"]);
        // A sealed secret proves the bus key reached the agent (over stdin) and opened it there.
        request.secrets.insert("TOKEN".into(), key.seal(request.job_id, "hunter2-guest").unwrap());
        request.steps[2].env.insert("TOKEN".into(), Template::expr("secrets.TOKEN"));
        let started = Instant::now();
        let mut handle = start_with_key(&executor, request.clone(), &key).await;
        let outputs = collect(&mut handle).await;
        let elapsed = started.elapsed();

        let kinds = events(&outputs);
        assert!(matches!(kinds[0], Event::VmBooting { label } if label == LABEL), "{kinds:#?}");
        assert!(matches!(kinds[1], Event::VmReady { label } if label == LABEL), "{kinds:#?}");
        assert_eq!(finished(&outputs), (JobResult::Success, None), "{outputs:#?}");
        assert_eq!(exited(&outputs), ("exit code 0".to_owned(), true));
        let hostname = step_log(&outputs, 0);
        eprintln!("guest hostname: {hostname:?} (job id {}), job took {elapsed:?}", request.job_id);
        assert_eq!(hostname, [request.job_id.to_string()], "the guest's hostname is the job id");
        assert_eq!(step_log(&outputs, 1), ["runner"]);
        assert_eq!(step_log(&outputs, 2), ["token=***"], "the secret is opened in the guest and masked");
        let authorized = step_log(&outputs, 3);
        assert_eq!(authorized.len(), 1, "one authorized key: {authorized:?}");
        assert!(authorized[0].starts_with("ssh-ed25519 "), "{authorized:?}");

        setup.assert_nothing_left(&request, Some(&authorized[0])).await;
    });
}

#[test]
fn a_failing_step_fails_the_job_with_the_shared_network() {
    in_test_netns(|| async {
        let mut setup = Setup::new();
        // The test's own namespace has a (fake) default route, so passt runs right here.
        setup.config.network = NetworkMode::Shared;
        let executor = setup.executor();
        let request = request(LABEL, &["echo about to fail; exit 3", "echo never"]);
        let mut handle = start(&executor, request.clone()).await;
        let outputs = collect(&mut handle).await;

        assert_eq!(finished(&outputs).0, JobResult::Failure, "{outputs:#?}");
        assert_eq!(step_log(&outputs, 0).first().map(String::as_str), Some("about to fail"));
        let outcomes: Vec<_> = events(&outputs)
            .into_iter()
            .filter_map(|e| match e {
                Event::StepFinished { index, outcome, .. } => Some((*index, *outcome)),
                _ => None,
            })
            .collect();
        assert_eq!(outcomes, [(0, Outcome::Failure), (1, Outcome::Skipped)]);
        assert!(exited(&outputs).1, "the agent itself exits cleanly after a failed job");
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn a_cancel_stops_the_step_and_the_vm() {
    in_test_netns(|| async {
        let setup = Setup::new();
        let executor = setup.executor();
        let request = request(LABEL, &["echo started; sleep 600", "echo never"]);
        let mut handle = start(&executor, request.clone()).await;
        let mut outputs = collect_until(&mut handle, |output| match output {
            AgentOutput::Event(event) => {
                matches!(&event.event, Event::Log { lines, .. } if lines.iter().any(|l| l == "started"))
            }
            _ => false,
        })
        .await;
        let cancelled = Instant::now();
        handle.control().send(cancel("the user cancelled")).await.unwrap();
        outputs.extend(collect(&mut handle).await);
        let stopped = cancelled.elapsed();
        eprintln!("cancel -> Exited (VM gone): {stopped:?}");

        assert_eq!(finished(&outputs).0, JobResult::Cancelled, "{outputs:#?}");
        assert!(stopped < Duration::from_secs(15), "cancel took {stopped:?}");
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn a_cancel_during_boot_ends_the_job_before_any_agent() {
    in_test_netns(|| async {
        let setup = Setup::new();
        let executor = setup.executor();
        let request = request(LABEL, &["echo never"]);
        let mut handle = start(&executor, request.clone()).await;
        let mut outputs = collect_until(
            &mut handle,
            |o| matches!(o, AgentOutput::Event(e) if matches!(e.event, Event::VmBooting { .. })),
        )
        .await;
        handle.control().send(cancel("changed my mind")).await.unwrap();
        outputs.extend(collect(&mut handle).await);

        let (result, error) = finished(&outputs);
        assert_eq!(result, JobResult::Cancelled);
        assert_eq!(error.as_deref(), Some("cancelled while the VM booted: changed my mind"));
        assert!(!events(&outputs).iter().any(|e| matches!(e, Event::VmReady { .. })), "{outputs:#?}");
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn dropping_the_handle_kills_the_vm() {
    in_test_netns(|| async {
        let setup = Setup::new();
        let executor = setup.executor();
        let request = request(LABEL, &["echo started; sleep 600"]);
        let mut handle = start(&executor, request.clone()).await;
        collect_until(
            &mut handle,
            |o| matches!(o, AgentOutput::Event(e) if matches!(e.event, Event::StepStarted { .. })),
        )
        .await;
        drop(handle);
        setup.assert_nothing_left(&request, None).await;
    });
}
