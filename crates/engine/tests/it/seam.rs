//! The `Host` seam with a host that is not this machine: an in-memory host whose processes
//! follow a script. It proves the engine touches files and processes only through the trait
//! (as the orchestrator's SSH host will), and with a paused clock it checks GitHub's timings
//! exactly: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, and the 360-minute job limit.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use contract::{ControlMessage, Event, Outcome};
use engine::{EngineConfig, Exit, Host, HostError, Platform, Process, Signal, SpawnSpec, Spawned, TarSink};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::harness::{request, run};

/// What a fake process does.
#[derive(Debug, Clone)]
enum Behaviour {
    /// Prints `stdout`, appends `output` to `$GITHUB_OUTPUT`, exits with `code`.
    Exit { stdout: String, output: String, code: i32 },
    /// Runs until it gets SIGKILL.
    Stubborn,
}

#[derive(Default)]
struct State {
    files: HashMap<PathBuf, Vec<u8>>,
    spawned: Vec<SpawnSpec>,
    signals: Vec<(Signal, Instant)>,
}

#[derive(Clone)]
struct FakeHost {
    behaviour: Behaviour,
    state: Arc<Mutex<State>>,
}

impl FakeHost {
    fn new(behaviour: Behaviour) -> FakeHost {
        FakeHost { behaviour, state: Arc::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Host for FakeHost {
    async fn platform(&self) -> Result<Platform, HostError> {
        Ok(Platform::from_uname("SunOS", "i86pc"))
    }

    async fn base_env(&self) -> Result<BTreeMap<String, String>, HostError> {
        Ok([("PATH".to_owned(), "/usr/bin".to_owned()), ("HOME".to_owned(), "/home/ci".to_owned())].into())
    }

    async fn spawn(&self, spec: SpawnSpec) -> Result<Spawned, HostError> {
        let (stdout, code) = match &self.behaviour {
            Behaviour::Exit { stdout, output, code } => {
                if let Some(path) = spec.env.get("GITHUB_OUTPUT") {
                    self.state().files.entry(PathBuf::from(path)).or_default().extend(output.as_bytes());
                }
                (stdout.clone().into_bytes(), Some(*code))
            }
            Behaviour::Stubborn => (Vec::new(), None),
        };
        self.state().spawned.push(spec);
        let (exit_tx, exit_rx) = watch::channel(code.map(Exit::Code));
        Ok(Spawned {
            process: Box::new(FakeProcess { state: self.state.clone(), exit_tx, exit_rx }),
            stdout: Box::new(std::io::Cursor::new(stdout)),
            stderr: Box::new(tokio::io::empty()),
        })
    }

    async fn find_program(&self, name: &str, _path_var: &str) -> Result<Option<PathBuf>, HostError> {
        Ok((name == "bash" || name == "sh").then(|| PathBuf::from("/usr/bin").join(name)))
    }

    async fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        self.state().files.insert(path.to_owned(), contents.to_vec());
        Ok(())
    }

    async fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.state().files.get(path).cloned())
    }

    async fn create_dir_all(&self, _path: &Path) -> Result<(), HostError> {
        Ok(())
    }

    async fn remove_all(&self, path: &Path) -> Result<(), HostError> {
        self.state().files.retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    async fn unpack_tar(&self, _dest: &Path) -> Result<Box<dyn TarSink>, HostError> {
        Err(HostError::Remote("no checkouts here".into()))
    }

    async fn hash_files(&self, _root: &Path, _patterns: &[String]) -> Result<String, HostError> {
        Ok(String::new())
    }
}

struct FakeProcess {
    state: Arc<Mutex<State>>,
    exit_tx: watch::Sender<Option<Exit>>,
    exit_rx: watch::Receiver<Option<Exit>>,
}

#[async_trait]
impl Process for FakeProcess {
    fn id(&self) -> u32 {
        4242
    }

    async fn wait(&self) -> Result<Exit, HostError> {
        let mut exit = self.exit_rx.clone();
        let result = exit.wait_for(Option::is_some).await.map(|e| *e);
        match result {
            Ok(Some(exit)) => Ok(exit),
            _ => Err(HostError::Remote("the fake process vanished".into())),
        }
    }

    async fn signal_group(&self, signal: Signal) -> Result<bool, HostError> {
        if self.exit_rx.borrow().is_some() {
            return Ok(false);
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner()).signals.push((signal, Instant::now()));
        if signal == Signal::Kill {
            let _ = self.exit_tx.send(Some(Exit::Signal(9)));
        }
        Ok(true)
    }
}

async fn run_on(
    host: &FakeHost,
    job: contract::JobRequest,
    cancel_after_start: bool,
) -> (Vec<Event>, engine::JobReport, Instant) {
    let config = EngineConfig::new("/work");
    let (events_tx, mut events_rx) = mpsc::channel(1024);
    let (control_tx, control_rx) = mpsc::channel(8);
    let host_for_job = host.clone();
    let job_task = tokio::spawn(async move {
        engine::run_job(job, BTreeMap::new(), &host_for_job, &config, events_tx, control_rx).await
    });
    let mut events = Vec::new();
    let mut cancelled_at = Instant::now();
    while let Some(event) = events_rx.recv().await {
        if cancel_after_start && matches!(event.event, Event::StepStarted { .. }) {
            cancelled_at = Instant::now();
            let _ = control_tx.send(ControlMessage::Cancel { reason: "test".into() }).await;
        }
        events.push(event.event);
    }
    let report = job_task.await.unwrap_or_else(|e| panic!("run_job panicked: {e}"));
    (events, report, cancelled_at)
}

#[tokio::test(start_paused = true)]
async fn cancel_escalates_with_githubs_grace_periods() {
    let host = FakeHost::new(Behaviour::Stubborn);
    let (_, report, cancelled_at) = run_on(&host, request(vec![run(0, "sleep infinity")]), true).await;
    assert_eq!(report.result, Outcome::Cancelled);
    let signals: Vec<(Signal, Duration)> =
        host.state().signals.iter().map(|(s, at)| (*s, at.duration_since(cancelled_at))).collect();
    assert_eq!(
        signals,
        [
            (Signal::Interrupt, Duration::ZERO),
            (Signal::Terminate, Duration::from_millis(7500)),
            (Signal::Kill, Duration::from_millis(10_000)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_job_timeout_is_360_minutes() {
    let host = FakeHost::new(Behaviour::Stubborn);
    let started = Instant::now();
    let (_, report, _) = run_on(&host, request(vec![run(0, "sleep infinity")]), false).await;
    assert_eq!(report.result, Outcome::Cancelled);
    assert!(report.error.unwrap_or_default().contains("maximum execution time of 360 minutes"));
    let first = host.state().signals.first().map(|(s, at)| (*s, at.duration_since(started)));
    assert_eq!(first, Some((Signal::Interrupt, Duration::from_secs(360 * 60))));
}

#[tokio::test(start_paused = true)]
async fn files_and_processes_go_through_the_host() {
    let host = FakeHost::new(Behaviour::Exit {
        stdout: "hello from the guest\n".into(),
        output: "answer=42\n".into(),
        code: 0,
    });
    let (events, report, _) = run_on(&host, request(vec![run(0, "echo hello from the guest")]), false).await;
    assert_eq!(report.result, Outcome::Success);
    let logged = events
        .iter()
        .any(|e| matches!(e, Event::Log { lines, .. } if lines.iter().any(|l| l == "hello from the guest")));
    assert!(logged, "{events:#?}");
    let outputs = events.iter().find_map(|e| match e {
        Event::StepFinished { outputs, .. } => Some(outputs.clone()),
        _ => None,
    });
    assert_eq!(outputs.and_then(|o| o.get("answer").cloned()).as_deref(), Some("42"));

    let state = host.state();
    let spec = &state.spawned[0];
    assert_eq!(spec.program, PathBuf::from("/usr/bin/bash"));
    assert_eq!(spec.args[0], "-e");
    assert_eq!(spec.cwd, PathBuf::from("/work/hello/hello"));
    assert_eq!(spec.env.get("RUNNER_OS").map(String::as_str), Some("illumos"));
    assert_eq!(spec.env.get("RUNNER_ARCH").map(String::as_str), Some("X64"));
    assert_eq!(spec.env.get("HOME").map(String::as_str), Some("/home/ci"));
    let script = state.files.get(Path::new(&spec.args[1])).cloned().unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&script), "echo hello from the guest");
    assert!(spec.args[1].starts_with("/work/_temp/") && spec.args[1].ends_with(".sh"), "{:?}", spec.args);
}
