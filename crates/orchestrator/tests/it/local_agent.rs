use bus::{Bus, InProcessBus};
use contract::{Event, JobResult};
use orchestrator::{LocalExecutor, LocalExecutorConfig, Orchestrator};

use crate::{RUNNER, check_sequence, config, is_empty_dir, local, published, request};

#[tokio::test]
async fn events_are_stamped_one_to_n_and_the_work_dir_goes() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let orchestrator = local(&bus, "succeed.sh", &work, None).await;

    assert_eq!(orchestrator.run_job(request()).await, JobResult::Success);
    let events = published(&mut events).await;
    let (result, error) = check_sequence(&events);
    assert_eq!((result, error), (JobResult::Success, None));
    let kinds: Vec<_> = events.iter().map(|e| e.event.clone()).collect();
    assert!(matches!(kinds[1], Event::Log { .. }), "{kinds:#?}");
    assert!(matches!(kinds[2], Event::StepStarted { index: 0, .. }), "{kinds:#?}");
    match &kinds[kinds.len() - 1] {
        Event::JobFinished { outputs, .. } => assert_eq!(outputs.get("answer").map(String::as_str), Some("42")),
        other => panic!("{other:?}"),
    }
    assert!(is_empty_dir(&work), "the job's work dir is left behind");
}

#[tokio::test]
async fn an_agent_that_dies_mid_job_still_gets_one_job_finished() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let orchestrator = local(&bus, "crash.sh", &work, None).await;

    assert_eq!(orchestrator.run_job(request()).await, JobResult::Failure);
    let (result, error) = check_sequence(&published(&mut events).await);
    assert_eq!(result, JobResult::Failure);
    let error = error.unwrap_or_default();
    assert!(error.contains("exit code 3"), "{error}");
    assert!(error.contains("engine: something broke\n  engine: giving up"), "{error}");
    assert!(is_empty_dir(&work), "the job's work dir is left behind");
}

#[tokio::test]
async fn a_line_that_is_not_an_event_fails_the_job_without_a_hang() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let orchestrator = local(&bus, "garbage.sh", &work, None).await;

    assert_eq!(orchestrator.run_job(request()).await, JobResult::Failure);
    let (result, error) = check_sequence(&published(&mut events).await);
    assert_eq!(result, JobResult::Failure);
    let error = error.unwrap_or_default();
    assert!(error.contains("not an event") && error.contains("this is not json"), "{error}");
    assert!(is_empty_dir(&work), "the job's work dir is left behind");
}

#[tokio::test]
async fn a_missing_agent_fails_the_job() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let mut executor = LocalExecutorConfig::new("/nonexistent/workflow-runner".into());
    let work = tempfile::tempdir().unwrap();
    executor.work_root = Some(work.path().to_owned());
    let orchestrator = Orchestrator::start(bus.clone(), LocalExecutor::new(executor), config()).await.unwrap();

    assert_eq!(orchestrator.run_job(request()).await, JobResult::Failure);
    let (_, error) = check_sequence(&published(&mut events).await);
    let error = error.unwrap_or_default();
    assert!(error.contains("start the agent /nonexistent/workflow-runner"), "{error}");
    assert!(is_empty_dir(&work), "the job's work dir is left behind");
}

#[tokio::test]
async fn a_redelivered_attempt_that_started_is_failed_not_rerun() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let orchestrator = local(&bus, "succeed.sh", &work, None).await;
    let request = request();

    assert_eq!(orchestrator.run_job(request.clone()).await, JobResult::Success);
    let _ = published(&mut events).await;
    assert_eq!(orchestrator.run_job(request).await, JobResult::Failure);
    let (_, error) = check_sequence(&published(&mut events).await);
    assert!(error.unwrap_or_default().contains("already started"));
}

#[tokio::test]
async fn served_jobs_come_from_the_bus_and_are_acked_when_done() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let orchestrator = local(&bus, "succeed.sh", &work, None).await;
    let serving = orchestrator.serve(&[crate::LABEL.to_owned()], 2).await.unwrap();

    let jobs = [request(), request(), request()];
    for job in &jobs {
        bus.publish_job(job).await.unwrap();
    }
    let mut finished = 0;
    while finished < jobs.len() {
        let delivery = bus::Consumer::next(&mut events).await.unwrap();
        if matches!(delivery.payload.event, Event::JobFinished { result: JobResult::Success, .. }) {
            finished += 1;
        }
        delivery.acker.ack().await.unwrap();
    }
    serving.stop().await;
    assert_eq!(bus.unacked(), 0);
    assert_eq!(bus.queued_jobs(crate::LABEL), Some(0));
}
