//! One boot of one VM: its directory under the state dir (overlay, seed, serial log, QMP socket,
//! passt's socket, pid files), passt and QEMU, the wait for SSH, and the teardown that leaves
//! nothing behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Child;
use tokio::time::Instant;

use crate::accel::Accel;
use crate::catalog::Image;
use crate::network::{Network, NetworkError, NetworkMode};
use crate::process::{ToolError, confined, describe, kill_and_reap, reap_within, run_tool};
use crate::qemu::{QemuSpec, arguments, system_powerdown};
use crate::seed::{SeedData, SeedError};
use crate::serial::{SerialWatch, tail};
use crate::ssh::{JobKey, Session};
use crate::tools::Tools;

/// The pid of the process that owns a VM directory; a later orchestrator reconciles the
/// directories whose owner is gone.
pub(crate) const OWNER_FILE: &str = "owner.pid";

/// The longest path a unix socket can have (`sun_path` less its NUL, on Linux).
const UNIX_PATH_MAX: usize = 107;

/// How often the boot wait looks at QEMU, the serial log and SSH.
const POLL: Duration = Duration::from_millis(200);
/// One TCP connect through passt, and one SSH handshake and login.
const SSH_CONNECT: Duration = Duration::from_secs(2);
const SSH_LOGIN: Duration = Duration::from_secs(15);

/// Everything one boot needs to know.
#[derive(Debug)]
pub(crate) struct BootSpec<'a> {
    pub image: &'a Image,
    pub image_dir: &'a Path,
    pub accel: Accel,
    pub tools: &'a Tools,
    pub network: &'a NetworkMode,
    pub seed: &'a SeedData,
    pub key: &'a JobKey,
    pub boot_timeout: Duration,
}

/// Why a boot did not reach SSH.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("create the VM directory {dir}")]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("create the disk overlay")]
    Overlay(#[source] ToolError),
    #[error("read the size of the base disk {path}")]
    BaseDisk {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refused the job before booting: its disk overlay could grow to {} (the image's disk plus a {} reserve) \
         and {} are free for it in {} (running jobs' overlays counted); free disk space or run fewer jobs at once",
        crate::admission::gib(*needed),
        crate::admission::gib(crate::admission::RESERVE_BYTES),
        crate::admission::gib(*free),
        dir.display()
    )]
    NoDiskSpace { needed: u64, free: u64, dir: PathBuf },
    #[error("write the seed")]
    Seed(#[source] SeedError),
    #[error("use {path} as a unix socket: longer than {UNIX_PATH_MAX} bytes; use a shorter state dir")]
    SocketPath { path: PathBuf },
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("build the QEMU command line: {0}")]
    CommandLine(String),
    #[error("start {program}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("QEMU exited during boot ({status}){said}")]
    QemuExited { status: String, said: String },
    #[error("the guest reported a failed boot: {0}")]
    GuestFailed(String),
    #[error("no SSH login within {secs} s of QEMU's start{last}")]
    Timeout { secs: u64, last: String },
}

/// A VM directory and what runs from it. [`Vm::shut_down`] must be called whatever happens;
/// if it is not (a panic), the children still die with their `Child` handles and the directory
/// is reconciled by the next orchestrator.
#[derive(Debug)]
pub(crate) struct Vm {
    dir: PathBuf,
    network: Option<Network>,
    qemu: Option<Child>,
    pub(crate) started: Option<Instant>,
    /// The room promised to this VM's overlay; released when the VM is dropped.
    reservation: Option<crate::admission::Reservation>,
}

impl Vm {
    /// Creates the VM's directory, mode 0711: passt, which drops to `nobody`, must traverse it.
    pub(crate) fn create(dir: PathBuf) -> Result<Vm, BootError> {
        // The longest socket path under the directory is passt's.
        let longest = dir.join("net").join("passt.sock");
        if longest.as_os_str().len() > UNIX_PATH_MAX {
            return Err(BootError::SocketPath { path: longest });
        }
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o711);
        builder.create(&dir).map_err(|source| BootError::Dir { dir: dir.clone(), source })?;
        // The umask narrows the builder's mode (0700 under UMask=0077): say it exactly.
        #[cfg(unix)]
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o711))
            .map_err(|source| BootError::Dir { dir: dir.clone(), source })?;
        let vm = Vm { dir, network: None, qemu: None, started: None, reservation: None };
        vm.write_pid(OWNER_FILE, std::process::id());
        Ok(vm)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn serial_path(&self) -> PathBuf {
        self.dir.join("serial.log")
    }

    fn qmp_path(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }

    /// Prepares the disk and seed, starts passt and QEMU.
    pub(crate) async fn launch(&mut self, spec: &BootSpec<'_>) -> Result<(), BootError> {
        let image = spec.image;
        let overlay = match &image.disk {
            Some(disk) => {
                let overlay = self.dir.join("disk.qcow2");
                let base = spec.image_dir.join(&disk.file);
                let size = crate::admission::virtual_size(&base, &disk.format)
                    .map_err(|source| BootError::BaseDisk { path: base.clone(), source })?;
                let reservation =
                    crate::admission::reserve(&overlay, size).map_err(|refused| BootError::NoDiskSpace {
                        needed: refused.needed,
                        free: refused.free,
                        dir: self.dir.parent().unwrap_or(&self.dir).to_owned(),
                    })?;
                self.reservation = Some(reservation);
                let mut command = confined(&spec.tools.qemu_img, None);
                // O(1) whatever the base's size: only a header pointing at the read-only base.
                command.args(["create", "-q", "-f", "qcow2", "-F", &disk.format, "-b"]).arg(&base).arg(&overlay);
                run_tool(command, "qemu-img create", Duration::from_secs(30)).await.map_err(BootError::Overlay)?;
                Some(overlay)
            }
            None => None,
        };
        let seed = self.dir.join("seed.img");
        crate::seed::write(&seed, &image.seed, spec.seed, spec.tools).await.map_err(BootError::Seed)?;

        let network = Network::start(spec.network, spec.tools, &self.dir).await?;
        self.write_pid("passt.pid", network.passt.id().unwrap_or_default());
        let serial = self.serial_path();
        let qmp = self.qmp_path();
        let network = self.network.insert(network);
        let name = self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let qemu_spec = QemuSpec {
            image,
            image_dir: spec.image_dir,
            accel: spec.accel,
            overlay: overlay.as_deref(),
            seed: &seed,
            serial: &serial,
            qmp: &qmp,
            passt_socket: &network.socket,
            name: &name,
        };
        let args = arguments(&qemu_spec).map_err(BootError::CommandLine)?;
        let program = spec.tools.qemu_system(&image.arch);
        let log = std::fs::File::create(serial.with_file_name("qemu.log"))
            .map_err(|source| BootError::Spawn { program: program.clone(), source })?;
        let mut command = confined(&program, network.netns());
        command.args(&args).stdout(Stdio::null()).stderr(log);
        tracing::debug!(program = %program.display(), ?args, "starting QEMU");
        let qemu = command.spawn().map_err(|source| BootError::Spawn { program: program.clone(), source })?;
        self.started = Some(Instant::now());
        self.write_pid("qemu.pid", qemu.id().unwrap_or_default());
        self.qemu = Some(qemu);
        Ok(())
    }

    /// Waits until the guest takes the job's key over SSH, watching the serial console for the
    /// image's markers and QEMU for an early exit.
    pub(crate) async fn wait_ready(&mut self, spec: &BootSpec<'_>) -> Result<Session, BootError> {
        let started = self.started.unwrap_or_else(Instant::now);
        let deadline = started + spec.boot_timeout;
        let ready = spec.image.ready_marker.as_ref().map(|marker| format!("{marker} {}", spec.seed.hostname));
        let mut ready_seen = ready.is_none();
        let mut serial = SerialWatch::new(self.serial_path());
        let mut last_ssh_error = None;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(qemu) = &mut self.qemu
                && let Ok(Some(status)) = qemu.try_wait()
            {
                let said = std::fs::read_to_string(self.dir.join("qemu.log")).unwrap_or_default();
                let said = said.trim();
                let said = if said.is_empty() { String::new() } else { format!(": {said}") };
                return Err(BootError::QemuExited { status: describe(status), said });
            }
            for line in serial.new_lines() {
                if let Some(failed) = &spec.image.failed_marker
                    && line.starts_with(failed.as_str())
                {
                    return Err(BootError::GuestFailed(line));
                }
                if ready.as_deref().is_some_and(|ready| line.starts_with(ready)) {
                    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "ready marker seen");
                    ready_seen = true;
                }
            }
            if ready_seen {
                match self.try_login(spec).await {
                    Ok(session) => return Ok(session),
                    Err(error) => last_ssh_error = Some(error),
                }
            }
            if Instant::now() >= deadline {
                let last = match (&last_ssh_error, ready_seen) {
                    (Some(error), _) => format!("; last SSH error: {error}"),
                    (None, false) => "; the guest never printed its ready marker".to_owned(),
                    (None, true) => String::new(),
                };
                return Err(BootError::Timeout { secs: spec.boot_timeout.as_secs(), last });
            }
        }
    }

    async fn try_login(&self, spec: &BootSpec<'_>) -> Result<Session, String> {
        let network = self.network.as_ref().ok_or("no network")?;
        let stream = network.connect_ssh(SSH_CONNECT).await.map_err(|e| format!("connect: {e}"))?;
        match tokio::time::timeout(SSH_LOGIN, Session::connect(stream, &spec.image.user, spec.key)).await {
            Ok(Ok(session)) => Ok(session),
            Ok(Err(error)) => Err(chain(&error)),
            Err(_) => Err(format!("no SSH login within {} s", SSH_LOGIN.as_secs())),
        }
    }

    /// The last lines of the serial console.
    pub(crate) fn serial_tail(&self, lines: usize) -> Vec<String> {
        tail(&self.serial_path(), lines)
    }

    /// Presses the power button, gives the guest `grace` to power off, kills what is left, waits
    /// for QEMU and passt, and removes the directory.
    pub(crate) async fn shut_down(mut self, grace: Duration) {
        let qemu_ran = self.qemu.is_some();
        if let Some(mut qemu) = self.qemu.take() {
            if matches!(qemu.try_wait(), Ok(None)) {
                power_off(&mut qemu, &self.qmp_path(), grace).await;
            } else {
                let _ = qemu.wait().await;
            }
        }
        if let Some(mut network) = self.network.take() {
            if qemu_ran {
                // passt -1 exits when QEMU's connection closes.
                reap_within(&mut network.passt, Duration::from_secs(2)).await;
            } else {
                // QEMU never ran: passt would wait for it forever.
                kill_and_reap(&mut network.passt).await;
            }
        }
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(%error, dir = %self.dir.display(), "removing the VM directory failed");
        }
    }

    fn write_pid(&self, file: &str, pid: u32) {
        let path = self.dir.join(file);
        if let Err(error) = std::fs::write(&path, format!("{pid}\n")) {
            tracing::warn!(%error, path = %path.display(), "writing a pid file failed");
        }
    }
}

/// The ACPI power button through QMP, `grace` to obey it, then SIGKILL; reaps QEMU either way.
async fn power_off(qemu: &mut Child, qmp: &Path, grace: Duration) {
    let started = Instant::now();
    if let Err(error) = system_powerdown(qmp, grace.min(Duration::from_secs(1))).await {
        tracing::debug!(%error, "no ACPI power-off; killing QEMU");
        return kill_and_reap(qemu).await;
    }
    match reap_within(qemu, grace.saturating_sub(started.elapsed())).await {
        Some(_) => tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "the guest powered off"),
        None => tracing::debug!(grace_ms = grace.as_millis() as u64, "QEMU killed after the power-off grace"),
    }
}

pub(crate) use orchestrator::error_chain as chain;
