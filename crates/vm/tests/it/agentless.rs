//! Images with `agent = "none"`: the orchestrator's step engine drives the guest's `sh` over
//! SSH. The same job through `linux-test` (with its agent) and `linux-test-agentless` must look
//! the same to a user.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::{Event, JobRequest, JobResult, Outcome, Section, Template};
use orchestrator::AgentOutput;
use tokio::time::Instant;
use tracing_subscriber::layer::SubscriberExt;

use crate::{
    IMAGES, LABEL, Setup, cancel, collect, collect_until, events, exited, finished, in_test_netns, request, start,
    start_with_key, step_log,
};

const AGENTLESS: &str = "linux-test-agentless";
const SECRET: &str = "hunter2-agentless";

/// A test setup whose images dir also has `linux-test-agentless` (the same files).
fn setup() -> Setup {
    let setup = Setup::new();
    std::os::unix::fs::symlink(Path::new(IMAGES).join(LABEL), setup.images.path().join(AGENTLESS)).unwrap();
    setup
}

/// A job that exercises what a user sees: hostname, outputs, `GITHUB_ENV` across steps, a
/// warning, a failing step with `continue-on-error`, a masked secret, `hashFiles()`, a missing
/// working directory, job outputs.
/// stdout and stderr are separate pipes whose lines race, so step 2 pauses between them.
fn showcase(label: &str, key: &contract::BusKey) -> JobRequest {
    let mut request = request(
        label,
        &[
            "hostname",
            "echo \"greeting=hello from $(hostname)\" >> \"$GITHUB_OUTPUT\"\necho CARRIED=across >> \"$GITHUB_ENV\"\necho '::warning::careful'",
            "echo \"carried $CARRIED\"\nsleep 1\necho 'to stderr' >&2\nexit 3",
            "echo \"token=$TOKEN\"",
            "echo \"in $PWD as $(id -un)\"",
            "mkdir -p sub && echo a > sub/x.txt && echo b > y.txt && echo c > z.md",
            "",
            "echo never runs",
        ],
    );
    request.steps[7].working_directory = Some(Template::literal("does-not-exist"));
    request.steps[7].continue_on_error = Some(Template::literal(true));
    request.steps[6].run = Some(Template::expr(
        "format('echo {0} {1} {2}', hashFiles('**/*.txt'), hashFiles('*.txt'), hashFiles('**/*.txt', '!sub/**'))",
    ));
    request.steps[2].continue_on_error = Some(Template::literal(true));
    request.secrets.insert("TOKEN".into(), key.seal(request.job_id, SECRET).unwrap());
    request.steps[3].env.insert("TOKEN".into(), Template::expr("secrets.TOKEN"));
    request.outputs.insert("greeting".into(), Template::expr("steps.step1.outputs.greeting"));
    request
}

/// What a user sees of a job, in order, with the job id (the guest's hostname) replaced and
/// log lines one by one (how lines are batched into events is not something a user sees).
fn user_view(outputs: &[AgentOutput], request: &JobRequest) -> Vec<String> {
    let id = request.job_id.to_string();
    let mut view = Vec::new();
    for event in events(outputs) {
        match event {
            Event::VmBooting { .. } | Event::VmReady { .. } | Event::Heartbeat => {}
            Event::Log { section, lines, .. } => {
                view.extend(lines.iter().map(|line| format!("{section:?}: {line}").replace(&id, "<job>")))
            }
            other => view.push(serde_json::to_string(other).unwrap().replace(&id, "<job>")),
        }
    }
    view
}

/// Records every command line the agentless host sends to the guest (its debug trace).
#[derive(Clone, Default)]
struct Commands(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Commands {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Field<'a>(&'a mut Vec<String>);
        impl tracing::field::Visit for Field<'_> {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "command" {
                    self.0.push(value.to_owned());
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if event.metadata().target() == "vm::agentless::command" {
            event.record(&mut Field(&mut self.0.lock().unwrap()));
        }
    }
}

#[test]
fn the_same_job_looks_the_same_with_and_without_an_agent() {
    in_test_netns(|| async {
        let commands = Commands::default();
        // Every task of this test runs on this thread, so a thread-local subscriber sees them.
        let _trace = tracing::subscriber::set_default(tracing_subscriber::registry().with(commands.clone()));
        let setup = setup();
        let executor = setup.executor();
        let key = contract::BusKey::generate().unwrap();
        let with_agent = showcase(LABEL, &key);
        let agentless = showcase(AGENTLESS, &key);
        let started = Instant::now();
        let mut agent_handle = start_with_key(&executor, with_agent.clone(), &key).await;
        let mut agentless_handle = start_with_key(&executor, agentless.clone(), &key).await;
        let (agent_outputs, agentless_outputs) =
            tokio::join!(collect(&mut agent_handle), collect(&mut agentless_handle));
        eprintln!("both jobs took {:?}", started.elapsed());

        // What the agentless job did, as a user reads it.
        let kinds = events(&agentless_outputs);
        assert!(matches!(kinds[0], Event::VmBooting { label } if label == AGENTLESS), "{kinds:#?}");
        assert!(matches!(kinds[1], Event::VmReady { label } if label == AGENTLESS), "{kinds:#?}");
        assert_eq!(finished(&agentless_outputs), (JobResult::Success, None), "{agentless_outputs:#?}");
        assert!(exited(&agentless_outputs).1, "{agentless_outputs:#?}");
        assert_eq!(step_log(&agentless_outputs, 0), [agentless.job_id.to_string()], "it ran in the guest");
        assert_eq!(step_log(&agentless_outputs, 2)[..2], ["carried across", "to stderr"]);
        assert_eq!(step_log(&agentless_outputs, 3), ["token=***"], "the secret is masked");
        let home = step_log(&agentless_outputs, 4);
        assert_eq!(home, ["in /home/runner/work/workspace/workspace as runner"]);
        let steps: Vec<_> = kinds
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished { index, outcome, conclusion, outputs, .. } => {
                    Some((*index, *outcome, *conclusion, outputs.get("greeting").cloned()))
                }
                _ => None,
            })
            .collect();
        let greeting = format!("hello from {}", agentless.job_id);
        assert_eq!(
            steps,
            [
                (0, Outcome::Success, Outcome::Success, None),
                (1, Outcome::Success, Outcome::Success, Some(greeting.clone())),
                (2, Outcome::Failure, Outcome::Success, None),
                (3, Outcome::Success, Outcome::Success, None),
                (4, Outcome::Success, Outcome::Success, None),
                (5, Outcome::Success, Outcome::Success, None),
                (6, Outcome::Success, Outcome::Success, None),
                (7, Outcome::Failure, Outcome::Success, None),
            ]
        );
        let hashes = step_log(&agentless_outputs, 6);
        let hashes: Vec<&str> = hashes.first().map(|line| line.split(' ').collect()).unwrap_or_default();
        assert!(hashes.len() == 3 && hashes.iter().all(|h| h.len() == 64), "{hashes:?}");
        assert!(hashes[0] != hashes[1] && hashes[1] == hashes[2], "sub/x.txt counts only for **: {hashes:?}");
        let missing_dir = step_log(&agentless_outputs, 7);
        assert!(
            missing_dir.iter().any(|l| l.starts_with("##[error]An error occurred trying to start process")
                && l.ends_with("does-not-exist'. No such file or directory (os error 2)")),
            "{missing_dir:?}"
        );
        let job_outputs = kinds.iter().find_map(|e| match e {
            Event::JobFinished { outputs, .. } => outputs.get("greeting").cloned(),
            _ => None,
        });
        assert_eq!(job_outputs, Some(greeting));

        // The same, event for event, as the agent's run.
        assert_eq!(user_view(&agentless_outputs, &agentless), user_view(&agent_outputs, &with_agent));
        assert!(
            !user_view(&agent_outputs, &with_agent).iter().any(|line| line.contains(SECRET)),
            "the secret never shows"
        );

        let sent = commands.0.lock().unwrap().clone();
        assert!(sent.len() > 10, "the commands are recorded: {sent:#?}");
        let leaked: Vec<_> = sent.iter().filter(|c| c.contains(SECRET) || c.contains("TOKEN")).collect();
        assert!(leaked.is_empty(), "no secret in a command line: {leaked:#?}");

        setup.assert_nothing_left(&with_agent, None).await;
        setup.assert_nothing_left(&agentless, None).await;
    });
}

#[test]
fn a_cancel_kills_the_steps_process_group_in_the_guest() {
    in_test_netns(|| async {
        let setup = setup();
        let executor = setup.executor();
        let mut request =
            request(AGENTLESS, &["echo started; sleep 600", "ps | grep '[s]leep 600' || echo 'no sleep left'"]);
        request.steps[1].if_ = Some(Template::expr("always()"));
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
        outputs.extend(
            collect_until(
                &mut handle,
                |o| matches!(o, AgentOutput::Event(e) if matches!(e.event, Event::StepFinished { index: 0, .. })),
            )
            .await,
        );
        let step_stopped = cancelled.elapsed();
        outputs.extend(collect(&mut handle).await);
        eprintln!("cancel -> step 0 finished: {step_stopped:?}, -> VM gone: {:?}", cancelled.elapsed());

        assert!(step_stopped < Duration::from_secs(12), "the sleep ended after {step_stopped:?}");
        let step0 = events(&outputs).into_iter().find_map(|e| match e {
            Event::StepFinished { index: 0, outcome, .. } => Some(*outcome),
            _ => None,
        });
        assert_eq!(step0, Some(Outcome::Cancelled));
        assert_eq!(step_log(&outputs, 1), ["no sleep left"], "the always() step finds no sleep in the guest");
        assert_eq!(finished(&outputs).0, JobResult::Cancelled, "{outputs:#?}");
        let annotations: Vec<_> = events(&outputs)
            .into_iter()
            .filter_map(|e| match e {
                Event::Log { section: Section::Step(0), lines, .. } => Some(lines.clone()),
                _ => None,
            })
            .flatten()
            .filter(|l| l.starts_with("##[error]"))
            .collect();
        assert_eq!(annotations, ["##[error]The operation was canceled."]);
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn a_checkout_is_unpacked_in_the_guest_by_its_tar() {
    in_test_netns(|| async {
        let setup = setup();
        let executor = setup.executor();
        let tree = tempfile::tempdir().unwrap();
        let deep = format!("{}/{}", "d".repeat(60), "e".repeat(60));
        std::fs::create_dir_all(tree.path().join(&deep)).unwrap();
        std::fs::write(tree.path().join(&deep).join("long-named-file.txt"), "from deep down\n").unwrap();
        std::fs::write(tree.path().join("it's here.txt"), "quoted name\n").unwrap();
        std::fs::write(tree.path().join("run.sh"), "#!/bin/sh\necho script ran\n").unwrap();
        std::fs::set_permissions(tree.path().join("run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink("run.sh", tree.path().join("link")).unwrap();

        let mut request = request(
            AGENTLESS,
            &["", &format!("cat '{deep}/long-named-file.txt' \"it's here.txt\"\n./run.sh\nreadlink link")],
        );
        request.steps[0] = checkout_step();
        let mut handle = start(&executor, request.clone()).await;
        let mut outputs = collect_until(
            &mut handle,
            |o| matches!(o, AgentOutput::Event(e) if matches!(e.event, Event::CheckoutRequested { .. })),
        )
        .await;
        let Some(Event::CheckoutRequested { index, request: wanted }) = events(&outputs).last().cloned().cloned()
        else {
            unreachable!("collect_until returned on a checkout request")
        };
        let source = orchestrator::WorkspaceSource { root: tree.path().to_owned(), repository: None, exclude: vec![] };
        orchestrator::stream_checkout(Some(source), index, wanted, handle.control()).await;
        outputs.extend(collect(&mut handle).await);

        assert_eq!(finished(&outputs), (JobResult::Success, None), "{outputs:#?}");
        assert_eq!(step_log(&outputs, 1), ["from deep down", "quoted name", "script ran", "run.sh"]);
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn a_background_process_does_not_hold_its_step() {
    in_test_netns(|| async {
        let setup = setup();
        let executor = setup.executor();
        let request = request(AGENTLESS, &["sleep 60 &\necho started a sleeper", "echo next step"]);
        let started = Instant::now();
        let mut handle = start(&executor, request.clone()).await;
        let mut outputs = collect_until(
            &mut handle,
            |o| matches!(o, AgentOutput::Event(e) if matches!(e.event, Event::VmReady { .. })),
        )
        .await;
        let ready = Instant::now();
        outputs.extend(collect(&mut handle).await);
        let steps = ready.elapsed();
        eprintln!("boot {:?}, steps {steps:?}", ready - started);

        assert_eq!(finished(&outputs), (JobResult::Success, None), "{outputs:#?}");
        assert_eq!(step_log(&outputs, 0), ["started a sleeper"]);
        assert_eq!(step_log(&outputs, 1), ["next step"]);
        assert!(steps < Duration::from_secs(30), "the job waited for the sleeper: {steps:?}");
        setup.assert_nothing_left(&request, None).await;
    });
}

fn checkout_step() -> contract::StepCommand {
    let mut step = contract::StepCommand::run(0, "checkout", Template::literal(""));
    step.kind = contract::StepKind::Checkout;
    step.uses = Some("actions/checkout@v4".into());
    step.run = None;
    step
}

#[test]
fn the_orchestrator_serves_an_agentless_jobs_checkout_and_sequences_its_events() {
    in_test_netns(|| async {
        use bus::{Bus, Consumer};

        let setup = setup();
        let bus = bus::InProcessBus::new();
        let mut consumer = bus.consume_events("runner-1").await.unwrap();
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("hello.txt"), "hello from the host's tree\n").unwrap();
        let mut config =
            orchestrator::OrchestratorConfig::new("orchestrator-agentless", contract::BusKey::generate().unwrap());
        config.workspace =
            Some(orchestrator::WorkspaceSource { root: tree.path().to_owned(), repository: None, exclude: vec![] });
        let orchestrator = orchestrator::Orchestrator::start(bus.clone(), setup.executor(), config).await.unwrap();
        let mut request = request(AGENTLESS, &["", "cat hello.txt"]);
        request.steps[0] = checkout_step();

        assert_eq!(orchestrator.run_job(request.clone()).await, JobResult::Success);
        let mut events: Vec<contract::JobEvent> = Vec::new();
        while let Ok(Ok(delivery)) = tokio::time::timeout(Duration::ZERO, consumer.next()).await {
            delivery.acker.ack().await.unwrap();
            events.push(delivery.payload);
        }
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{events:#?}");
        let kinds: Vec<&Event> = events.iter().map(|e| &e.event).filter(|e| !matches!(e, Event::Heartbeat)).collect();
        assert!(matches!(kinds[0], Event::Accepted { .. }), "{kinds:#?}");
        assert!(matches!(kinds[1], Event::VmBooting { label } if label == AGENTLESS), "{kinds:#?}");
        assert!(matches!(kinds[2], Event::VmReady { label } if label == AGENTLESS), "{kinds:#?}");
        assert!(matches!(kinds.last(), Some(Event::JobFinished { result: JobResult::Success, .. })), "{kinds:#?}");
        let lines: Vec<&String> = kinds
            .iter()
            .filter_map(|e| match e {
                Event::Log { section: Section::Step(1), lines, .. } => Some(lines),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(lines.last().map(|l| l.as_str()), Some("hello from the host's tree"), "{kinds:#?}");
        drop(orchestrator);
        setup.assert_nothing_left(&request, None).await;
    });
}
