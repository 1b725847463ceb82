//! The `qemu` executor: one VM per job. `start` returns at once; a task per job boots the VM
//! (one retry on a fresh overlay), uploads and runs the agent over SSH, relays §3.3, and tears
//! everything down whatever happens. Everything it does shows up on the [`JobHandle`]:
//! `vm_booting`, `vm_ready`, the agent's events, and — when no agent ever ran (boot failure,
//! cancel during boot, unusable image) — a `job_finished` of its own whose error text says why,
//! with the serial console's tail when the guest did not boot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use contract::{AgentEvent, ControlMessage, Event, JobResult};
use orchestrator::{AgentNotFound, AgentOutput, Executor, ExecutorError, HOST_TARGET, JobHandle, JobStart};
use tokio::sync::{OnceCell, mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use crate::accel::{Accel, AccelChoice};
use crate::catalog::{Catalog, Image};
use crate::network::NetworkMode;
use crate::relay::{RelayInput, kill_requested, relay};
use crate::seed::SeedData;
use crate::ssh::{JobKey, Session};
use crate::tools::Tools;
use crate::vm::{BootError, BootSpec, Vm, chain};

/// Where the agent goes in the guest; `/tmp` is fresh in every VM.
const GUEST_AGENT: &str = "/tmp/workflow-runner";

#[derive(Debug, Clone)]
pub struct QemuExecutorConfig {
    /// `$SOLSTICE_STATE_DIR`. The executor keeps its VMs under `vm/run/` (one directory per
    /// boot, removed when the boot ends) and its accelerator probe result in `vm/accel`.
    pub state_dir: PathBuf,
    /// Where image `<label>`'s files are: `<images_dir>/<label>/`.
    pub images_dir: PathBuf,
    pub catalog: Catalog,
    /// `$SOLSTICE_AGENT_DIR`: agents are looked up as `<dir>/<target>/workflow-runner`, then
    /// (for the host's own target) beside the running executable.
    pub agent_dir: Option<PathBuf>,
    pub accel: AccelChoice,
    pub network: NetworkMode,
    pub tools: Tools,
    /// Replaces every image's boot watchdog (tests).
    pub boot_timeout: Option<Duration>,
    /// How long a guest gets between the ACPI power button and SIGKILL.
    pub poweroff_grace: Duration,
    pub serial_tail_lines: usize,
    pub stderr_tail_lines: usize,
    /// The job time limit when `timeout-minutes` is an expression (the agent evaluates it).
    pub default_job_time: Duration,
    /// How long past its time limit a job may run before the executor stops the VM: the agent
    /// enforces the limit itself; this catches an agent that no longer can.
    pub job_time_grace: Duration,
}

impl QemuExecutorConfig {
    pub fn new(state_dir: PathBuf, catalog: Catalog) -> QemuExecutorConfig {
        QemuExecutorConfig {
            images_dir: state_dir.join("images"),
            state_dir,
            catalog,
            agent_dir: None,
            accel: AccelChoice::Auto,
            network: NetworkMode::PerVm(crate::network::Uplink::Blackhole),
            tools: Tools::from_path(),
            boot_timeout: None,
            poweroff_grace: Duration::from_secs(2),
            serial_tail_lines: 30,
            stderr_tail_lines: 20,
            default_job_time: Duration::from_secs(360 * 60),
            job_time_grace: Duration::from_secs(5 * 60),
        }
    }

    /// `<state_dir>/vm/run`: one directory per live boot.
    pub fn run_dir(&self) -> PathBuf {
        self.state_dir.join("vm").join("run")
    }
}

/// Why the executor cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("create {dir}")]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct QemuExecutor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: QemuExecutorConfig,
    accel: OnceCell<Accel>,
}

impl QemuExecutor {
    /// Creates the executor's directories and reconciles what a previous orchestrator left in
    /// them (its VMs' processes are killed, their directories removed).
    pub fn new(config: QemuExecutorConfig) -> Result<QemuExecutor, SetupError> {
        let run = config.run_dir();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o711);
        builder.create(&run).map_err(|source| SetupError::Dir { dir: run.clone(), source })?;
        // The umask narrows the builder's mode: the run dir and the `vm` dir above it must let
        // passt (as `nobody`) through whatever the umask was.
        #[cfg(unix)]
        for dir in [Some(run.as_path()), run.parent()].into_iter().flatten() {
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o711))
                .map_err(|source| SetupError::Dir { dir: dir.to_owned(), source })?;
        }
        crate::reconcile::reconcile(&run);
        Ok(QemuExecutor { inner: Arc::new(Inner { config, accel: OnceCell::new() }) })
    }

    pub fn config(&self) -> &QemuExecutorConfig {
        &self.inner.config
    }

    /// The accelerator VMs run with (probed once, see `accel.rs`).
    pub async fn accel(&self) -> Accel {
        self.inner.accel().await
    }
}

impl Inner {
    async fn accel(&self) -> Accel {
        let config = &self.config;
        *self
            .accel
            .get_or_init(|| async {
                crate::accel::resolve(config.accel, &config.tools.qemu_x86_64, &config.state_dir.join("vm")).await
            })
            .await
    }
}

impl Executor for QemuExecutor {
    async fn start(&self, job: JobStart) -> Result<JobHandle, ExecutorError> {
        let config = &self.inner.config;
        let request = &job.request;
        let image = config.catalog.get(&request.route_label).cloned();
        let agent = match image.as_ref().and_then(|image| image.agent_target.as_deref()) {
            Some(target) => Some(find_agent(target, config.agent_dir.as_deref())?),
            None => None,
        };
        let run = config.run_dir();
        std::fs::create_dir_all(&run).map_err(|source| ExecutorError::WorkDir { dir: run, source })?;

        let (control_tx, control_rx) = mpsc::channel(16);
        let (outputs_tx, outputs_rx) = mpsc::channel(256);
        let (kill_tx, kill_rx) = oneshot::channel();
        let span = tracing::info_span!("vm", job_id = %request.job_id, attempt = request.attempt, label = %request.route_label);
        let job_time = job_time(request, config);
        let name = format!("{}-{}", request.job_id, request.attempt);
        let hostname = request.job_id.to_string();
        let label = request.route_label.clone();
        let start = ControlMessage::Start { request: Box::new(job.request), bus_key: job.bus_key };
        let run = JobRun {
            inner: self.inner.clone(),
            label,
            name,
            hostname,
            image,
            agent,
            job_time,
            start: Some(start),
            outputs: outputs_tx,
            control: Some(control_rx),
            kill: Some(kill_rx),
        };
        tokio::spawn(run.run().instrument(span));
        Ok(JobHandle::new(outputs_rx, control_tx, kill_tx))
    }
}

/// `$SOLSTICE_AGENT_DIR/<target>/workflow-runner`; for the host's own target also beside the
/// running executable (the orchestrator's [`orchestrator::locate_agent`]).
fn find_agent(target: &str, agent_dir: Option<&Path>) -> Result<PathBuf, AgentNotFound> {
    if target == HOST_TARGET {
        return orchestrator::locate_agent(agent_dir);
    }
    let candidate = agent_dir.map(|dir| dir.join(target).join("workflow-runner"));
    match candidate {
        Some(path) if path.is_file() => Ok(path),
        other => Err(AgentNotFound { tried: other.into_iter().collect() }),
    }
}

/// The job's own limit when it is a literal, else the default; the agent enforces it, the
/// executor only backs it up.
fn job_time(request: &contract::JobRequest, config: &QemuExecutorConfig) -> Duration {
    let literal = request.timeout_minutes.as_ref().and_then(|t| t.as_literal()).and_then(|v| v.as_f64());
    match literal {
        Some(minutes) if minutes.is_finite() && minutes > 0.0 => Duration::from_secs_f64(minutes * 60.0),
        _ => config.default_job_time,
    }
}

/// How a job's run ended, for `AgentOutput::Exited`.
struct Exit {
    status: String,
    success: bool,
    stderr_tail: Vec<String>,
}

impl Exit {
    fn without_agent(status: &str) -> Exit {
        Exit { status: status.to_owned(), success: false, stderr_tail: Vec::new() }
    }
}

/// What stopped a boot early.
enum Stop {
    Cancel(String),
    Kill,
}

/// One job from `start` to `Exited`.
struct JobRun {
    inner: Arc<Inner>,
    label: String,
    /// `<job id>-<attempt>`: names the VM directories.
    name: String,
    /// The guest's hostname: the job id, a per-job nonce.
    hostname: String,
    image: Option<Image>,
    agent: Option<PathBuf>,
    job_time: Duration,
    /// Holds the bus key; written to the agent's stdin and nowhere else.
    start: Option<ControlMessage>,
    outputs: mpsc::Sender<AgentOutput>,
    control: Option<mpsc::Receiver<ControlMessage>>,
    kill: Option<oneshot::Receiver<()>>,
}

impl JobRun {
    async fn run(mut self) {
        let begun = Instant::now();
        let exit = self.drive().await;
        tracing::info!(status = %exit.status, elapsed_ms = begun.elapsed().as_millis() as u64, "job's VM gone");
        let Exit { status, success, stderr_tail } = exit;
        let _ = self.outputs.send(AgentOutput::Exited { status, success, stderr_tail }).await;
    }

    async fn drive(&mut self) -> Exit {
        let inner = self.inner.clone();
        let config = &inner.config;
        let Some(image) = self.image.clone() else {
            let text = format!("no image with label {:?} in the catalog", self.label);
            return self.fail(JobResult::Failure, text).await;
        };
        self.emit(Event::VmBooting { label: self.label.clone() }).await;
        let image_dir = config.images_dir.join(&image.label);
        if let Err(text) = check_image_files(&image, &image_dir) {
            return self.fail(JobResult::Failure, text).await;
        }
        let key = match JobKey::generate(&format!("solstice-{}", self.name)) {
            Ok(key) => key,
            Err(error) => return self.fail(JobResult::Failure, format!("failed to {}", chain(&error))).await,
        };
        let public_key = match key.public_openssh() {
            Ok(line) => line,
            Err(error) => return self.fail(JobResult::Failure, format!("failed to {}", chain(&error))).await,
        };
        let accel = inner.accel().await;

        let mut pending = Vec::new();
        let mut tries = 0;
        let (vm, session) = loop {
            tries += 1;
            let seed = SeedData {
                instance_id: format!("iid-{}.{tries}", self.name),
                hostname: self.hostname.clone(),
                user: image.user.clone(),
                public_key: public_key.clone(),
            };
            let spec = BootSpec {
                image: &image,
                image_dir: &image_dir,
                accel,
                tools: &config.tools,
                network: &config.network,
                seed: &seed,
                key: &key,
                boot_timeout: config.boot_timeout.unwrap_or(image.qemu.boot_timeout),
            };
            let dir = config.run_dir().join(format!("{}.{tries}", self.name));
            let mut vm = match Vm::create(dir) {
                Ok(vm) => vm,
                Err(error) => return self.fail(JobResult::Failure, format!("failed to {}", chain(&error))).await,
            };
            tracing::info!(accel = accel.as_str(), try_ = tries, dir = %vm.dir().display(), "booting");
            // Launching takes well under a second and is not raced: a future dropped halfway
            // would leave children killed but not reaped. The wait for SSH holds no process.
            let outcome = match vm.launch(&spec).await {
                Err(error) => Ok(Err(error)),
                Ok(()) => tokio::select! {
                    outcome = vm.wait_ready(&spec) => Ok(outcome),
                    stop = stop_during_boot(&mut self.control, &mut self.kill, &mut pending) => Err(stop),
                },
            };
            match outcome {
                Ok(Ok(session)) => {
                    let boot_ms = vm.started.map(|t| t.elapsed().as_millis() as u64);
                    tracing::info!(?boot_ms, "VM ready: SSH login as {}", image.user);
                    break (vm, session);
                }
                Ok(Err(error)) => {
                    let tail = vm.serial_tail(config.serial_tail_lines);
                    vm.shut_down(config.poweroff_grace).await;
                    if tries < 2 && retryable(&error) {
                        tracing::warn!(error = %chain(&error), "the VM did not boot; retrying once on a fresh overlay");
                        continue;
                    }
                    return self.fail(JobResult::Failure, boot_failure_text(&error, tries, &tail)).await;
                }
                Err(stop) => {
                    vm.shut_down(config.poweroff_grace).await;
                    return match stop {
                        Stop::Cancel(reason) => {
                            self.fail(JobResult::Cancelled, format!("cancelled while the VM booted: {reason}")).await
                        }
                        Stop::Kill => Exit::without_agent("killed while the VM booted"),
                    };
                }
            }
        };
        self.emit(Event::VmReady { label: self.label.clone() }).await;
        let exit = match self.agent.clone() {
            Some(agent) => self.run_agent(&session, &agent, pending).await,
            // `agent = "none"`: the step engine runs here and drives the guest's `sh` over SSH.
            None => {
                let input = crate::agentless::AgentlessInput {
                    start: self.start.take(),
                    pending,
                    control: self.control.take(),
                    outputs: &self.outputs,
                    kill: &mut self.kill,
                    deadline: Instant::now() + self.job_time + config.job_time_grace,
                };
                let end = crate::agentless::run(&session, input).await;
                Exit { status: end.status, success: end.success, stderr_tail: Vec::new() }
            }
        };
        session.close().await;
        vm.shut_down(config.poweroff_grace).await;
        exit
    }

    /// Uploads the agent, starts it and relays until it ends.
    async fn run_agent(&mut self, session: &Session, agent: &Path, pending: Vec<ControlMessage>) -> Exit {
        let inner = self.inner.clone();
        let config = &inner.config;
        let started = Instant::now();
        let uploaded = tokio::select! {
            uploaded = crate::agent_file::upload(session, agent, GUEST_AGENT, &config.state_dir) => Some(uploaded),
            _ = kill_requested(&mut self.kill) => None,
        };
        match uploaded {
            None => return Exit::without_agent("killed while the agent was uploaded"),
            Some(Err(error)) => {
                let text = format!("failed to upload the agent {}: {}", agent.display(), chain(&error));
                return self.fail(JobResult::Failure, text).await;
            }
            Some(Ok(())) => {
                tracing::info!(upload_ms = started.elapsed().as_millis() as u64, agent = %agent.display(), "agent uploaded")
            }
        }
        // No secret here: the bus key travels in the Start message on stdin.
        let command = format!("mkdir -p \"$HOME/work\" && exec {GUEST_AGENT} --work-dir \"$HOME/work\"");
        let channel = match session.exec(&command).await {
            Ok(channel) => channel,
            Err(error) => {
                return self.fail(JobResult::Failure, format!("failed to start the agent: {}", chain(&error))).await;
            }
        };
        let mut first: Vec<ControlMessage> = self.start.take().into_iter().collect();
        first.extend(pending);
        // Every control sender gone during boot: the agent gets Start and then EOF.
        let control = self.control.take().unwrap_or_else(|| mpsc::channel(1).1);
        let input = RelayInput {
            first,
            control,
            outputs: &self.outputs,
            kill: &mut self.kill,
            deadline: Instant::now() + self.job_time + config.job_time_grace,
            stderr_keep: config.stderr_tail_lines,
        };
        let end = relay(channel, input).await;
        Exit { status: end.status, success: end.success, stderr_tail: end.stderr_tail }
    }

    async fn emit(&self, event: Event) {
        let _ = self.outputs.send(AgentOutput::Event(AgentEvent { at: contract::now(), event })).await;
    }

    /// Ends a job no agent ran: a `job_finished` with the reason, then the exit report.
    async fn fail(&self, result: JobResult, text: String) -> Exit {
        tracing::warn!(result = result.as_str(), error = %text, "job ended before its agent ran");
        let event = Event::JobFinished { result, outputs: Default::default(), error: Some(text) };
        self.emit(event).await;
        Exit::without_agent("no agent ran")
    }
}

/// Waits for a cancel or a kill while the VM boots, queueing other control messages.
async fn stop_during_boot(
    control: &mut Option<mpsc::Receiver<ControlMessage>>,
    kill: &mut Option<oneshot::Receiver<()>>,
    pending: &mut Vec<ControlMessage>,
) -> Stop {
    loop {
        let next = async {
            match control.as_mut() {
                Some(receiver) => receiver.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = next => match message {
                Some(ControlMessage::Cancel { reason }) => return Stop::Cancel(reason),
                Some(other) => pending.push(other),
                // No sender left: no cancel can come any more; only a kill ends the wait.
                None => *control = None,
            },
            _ = kill_requested(kill) => return Stop::Kill,
        }
    }
}

/// A boot that failed in the guest (or QEMU) may work on a fresh overlay; one that failed on
/// the host side will fail again.
fn retryable(error: &BootError) -> bool {
    matches!(error, BootError::QemuExited { .. } | BootError::GuestFailed(_) | BootError::Timeout { .. })
}

fn boot_failure_text(error: &BootError, tries: u32, tail: &[String]) -> String {
    if matches!(error, BootError::NoDiskSpace { .. }) {
        // Nothing booted: the refusal is the whole story.
        return chain(error);
    }
    let times = if tries > 1 { format!(" ({tries} tries)") } else { String::new() };
    let mut text = format!("the VM did not boot{times}: {}", chain(error));
    if !tail.is_empty() {
        text.push_str("\nlast lines of the serial console:");
        for line in tail {
            text.push_str("\n  ");
            text.push_str(line);
        }
    }
    text
}

/// The image's files must be on this host before anything boots (no retry helps otherwise).
fn check_image_files(image: &Image, dir: &Path) -> Result<(), String> {
    let mut needed = Vec::new();
    if let Some(kernel) = &image.kernel {
        needed.push(kernel.kernel_in(dir));
        needed.extend(kernel.initrd.as_ref().map(|initrd| dir.join(initrd)));
    }
    if let Some(disk) = &image.disk {
        needed.push(dir.join(&disk.file));
    }
    match needed.iter().find(|path| !path.is_file()) {
        Some(missing) => Err(format!("image {} is not on this host: {} is missing", image.label, missing.display())),
        None => Ok(()),
    }
}
