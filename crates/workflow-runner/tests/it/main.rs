//! The agent binary as the orchestrator drives it: a start message on stdin, events on stdout.

use std::process::Stdio;

use contract::{
    AgentEvent, BusKey, ControlMessage, Event, ForgeKind, JobRequest, Origin, Outcome, Section, StepCommand, Template,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const AGENT: &str = env!("CARGO_BIN_EXE_workflow-runner");

fn request(scripts: &[&str]) -> JobRequest {
    let origin = Origin { forge: ForgeKind::Local, runner_id: "test".into(), forge_ref: serde_json::Value::Null };
    let mut request = JobRequest::new(ulid::Ulid::new(), origin, "local", "build");
    request.steps = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| StepCommand::run(i as u32, format!("s{i}"), Template::literal(*s)))
        .collect();
    request
}

fn json_line(message: &ControlMessage) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    events: Vec<Event>,
    /// Read by the Linux-only daemon test; kept alive by everyone.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    work: tempfile::TempDir,
}

impl Agent {
    fn spawn() -> Agent {
        let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let mut child = Command::new(AGENT)
            .env("SOLSTICE_BUS_KEY", "must-not-reach-steps")
            .arg("--work-dir")
            .arg(work.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {AGENT}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout"))).lines();
        Agent { child, stdin, stdout, events: Vec::new(), work }
    }

    async fn send(&mut self, message: &ControlMessage) {
        let Some(stdin) = self.stdin.as_mut() else { panic!("stdin already closed") };
        stdin.write_all(&json_line(message)).await.unwrap_or_else(|e| panic!("write stdin: {e}"));
        stdin.flush().await.unwrap_or_else(|e| panic!("flush stdin: {e}"));
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Reads events until one matches; every stdout line must be an `AgentEvent`.
    async fn wait_for(&mut self, want: impl Fn(&Event) -> bool) -> Event {
        while let Some(line) = self.stdout.next_line().await.unwrap_or_else(|e| panic!("read stdout: {e}")) {
            let event: AgentEvent =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not an event ({e}): {line}"));
            self.events.push(event.event.clone());
            if want(&event.event) {
                return event.event;
            }
        }
        panic!("stdout ended early; events: {:#?}", self.events);
    }

    /// Reads to the end; returns the exit code.
    async fn finish(&mut self) -> i32 {
        self.wait_for(|e| matches!(e, Event::JobFinished { .. })).await;
        let rest = self.stdout.next_line().await.unwrap_or_default();
        assert_eq!(rest, None, "nothing after job_finished");
        let status = self.child.wait().await.unwrap_or_else(|e| panic!("wait: {e}"));
        status.code().unwrap_or(-1)
    }

    fn step_lines(&self, index: u32) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { section: Section::Step(i), lines, .. } if *i == index => Some(lines.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn job_finished(&self) -> (Outcome, Option<String>) {
        match self.events.last() {
            Some(Event::JobFinished { result, error, .. }) => (*result, error.clone()),
            other => panic!("last event is not job_finished: {other:?}"),
        }
    }
}

fn start(request: JobRequest, key: &BusKey) -> ControlMessage {
    ControlMessage::Start { request: Box::new(request), bus_key: key.to_base64() }
}

fn key() -> BusKey {
    BusKey::generate().unwrap_or_else(|e| panic!("key: {e}"))
}

#[tokio::test]
async fn runs_a_job_and_writes_only_events() {
    let mut agent = Agent::spawn();
    agent.send(&start(request(&["echo hello", "exit 4"]), &key())).await;
    assert_eq!(agent.finish().await, 0, "exit 0 whatever the job's result");
    assert!(agent.step_lines(0).contains(&"hello".to_owned()));
    assert!(agent.step_lines(1).contains(&"##[error]Process completed with exit code 4.".to_owned()));
    assert_eq!(agent.job_finished().0, Outcome::Failure);
    assert!(matches!(agent.events.first(), Some(Event::Log { section: Section::Setup, .. })));
}

#[tokio::test]
async fn opens_sealed_secrets_and_masks_them() {
    let key = key();
    let mut job = request(&[]);
    job.secrets.insert("TOKEN".into(), key.seal(job.job_id, "hunter2-secret").unwrap_or_else(|e| panic!("{e}")));
    job.steps.push(StepCommand::run(0, "s0", Template::expr("format('echo {0}', secrets.TOKEN)")));
    let mut agent = Agent::spawn();
    agent.send(&start(job, &key)).await;
    assert_eq!(agent.finish().await, 0);
    assert!(agent.step_lines(0).contains(&"***".to_owned()), "{:?}", agent.step_lines(0));
    assert_eq!(agent.job_finished().0, Outcome::Success);
}

#[tokio::test]
async fn a_wrong_key_fails_the_job_clearly() {
    let sealing = key();
    let mut job = request(&["echo should not run"]);
    job.secrets.insert("TOKEN".into(), sealing.seal(job.job_id, "x").unwrap_or_else(|e| panic!("{e}")));
    let mut agent = Agent::spawn();
    agent.send(&start(job, &key())).await;
    assert_eq!(agent.finish().await, 0);
    let (result, error) = agent.job_finished();
    assert_eq!(result, Outcome::Failure);
    let error = error.unwrap_or_default();
    assert!(error.contains("'TOKEN' cannot be opened"), "{error}");
    assert_eq!(agent.events.len(), 1, "nothing ran: {:?}", agent.events);
}

#[tokio::test]
async fn cancel_arrives_on_stdin() {
    let mut agent = Agent::spawn();
    agent.send(&start(request(&["echo ready; while true; do sleep 0.05; done"]), &key())).await;
    agent.wait_for(|e| matches!(e, Event::Log { lines, .. } if lines.iter().any(|l| l == "ready"))).await;
    agent.send(&ControlMessage::Cancel { reason: "user".into() }).await;
    assert_eq!(agent.finish().await, 0);
    assert_eq!(agent.job_finished().0, Outcome::Cancelled);
}

#[tokio::test]
async fn end_of_stdin_after_start_lets_the_job_finish() {
    let mut agent = Agent::spawn();
    agent.send(&start(request(&["sleep 0.2; echo done"]), &key())).await;
    agent.close_stdin();
    assert_eq!(agent.finish().await, 0);
    assert_eq!(agent.job_finished().0, Outcome::Success);
    assert!(agent.step_lines(0).contains(&"done".to_owned()));
}

#[tokio::test]
async fn bad_input_before_start_exits_2() {
    for input in ["", "not json\n", "{\"type\":\"cancel\",\"reason\":\"x\"}\n"] {
        let mut agent = Agent::spawn();
        if let Some(stdin) = agent.stdin.as_mut() {
            stdin.write_all(input.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
        }
        agent.close_stdin();
        let output = agent.child.wait_with_output().await.unwrap_or_else(|e| panic!("wait: {e}"));
        assert_eq!(output.status.code(), Some(2), "input {input:?}");
        assert!(output.stdout.is_empty(), "stdout stays empty");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("start message"), "{stderr}");
    }
}

#[tokio::test]
async fn steps_never_see_solstice_settings() {
    let mut agent = Agent::spawn();
    agent.send(&start(request(&["echo \"key=${SOLSTICE_BUS_KEY-unset}\""]), &key())).await;
    assert_eq!(agent.finish().await, 0);
    assert!(agent.step_lines(0).contains(&"key=unset".to_owned()), "{:?}", agent.step_lines(0));
}

/// Linux: the agent adopts daemons a step started (`setsid`) and kills them at the end of the job.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn daemons_left_behind_are_killed() {
    let script = "setsid sleep 300 >/dev/null 2>&1 </dev/null &\necho $! > \"$RUNNER_TEMP/../daemon.pid\"";
    let mut agent = Agent::spawn();
    agent.send(&start(request(&[script]), &key())).await;
    assert_eq!(agent.finish().await, 0);
    let pid = std::fs::read_to_string(agent.work.path().join("daemon.pid")).unwrap_or_default();
    let pid = pid.trim().to_owned();
    assert!(!pid.is_empty(), "the step wrote the daemon's pid");
    let complete: Vec<String> = agent
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Log { section: Section::Complete, lines, .. } => Some(lines.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(complete.contains(&format!("Terminate orphan process: pid ({pid})")), "{complete:?}");
    // SIGKILL was sent before the agent exited; give the kernel a moment to finish it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).is_some_and(|s| s != "Z");
        if !running {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "daemon {pid} still runs: {stat}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
