//! [`Host`] on this machine: what the agent uses inside a guest.
//!
//! Every step leads a process group of its own (`setpgid(0, 0)` at spawn), so a signal or the
//! final clean-up reaches the shell and everything it started in the foreground or background.
//! A grandchild that leaves the group (`setsid`, a daemon) escapes `killpg`. On Linux the agent
//! makes itself a child subreaper ([`LocalHost::adopting_orphans`]), so such a process is
//! re-parented to the agent when its parent exits and [`Host::kill_orphans`] finds and kills it.
//! Limitation: on illumos and FreeBSD there is no such cheap mechanism here (process contracts
//! and `procctl(PROC_REAP_ACQUIRE)` would be the per-OS answers), so a daemonized grandchild
//! outlives the job until the VM is thrown away.

mod hash;
#[cfg(target_os = "linux")]
mod orphans;
mod unpack;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::host::{Exit, Host, HostError, Platform, Process, Signal, SpawnSpec, Spawned, TarSink};

/// Runs steps as child processes of this process.
#[derive(Clone)]
pub struct LocalHost {
    env: BTreeMap<String, String>,
    /// This process is a child subreaper and may kill every child it adopted.
    adopts_orphans: bool,
}

impl LocalHost {
    /// Steps start from this process's environment.
    pub fn new() -> LocalHost {
        LocalHost::with_env(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Steps start from exactly `env` (tests use it to be independent of the caller).
    pub fn with_env(env: impl IntoIterator<Item = (String, String)>) -> LocalHost {
        LocalHost { env: env.into_iter().collect(), adopts_orphans: false }
    }

    /// Makes this process adopt the orphans of the processes it starts (Linux: a child
    /// subreaper), so [`Host::kill_orphans`] can kill daemons that steps left behind. Only for a
    /// process that runs one job and starts nothing else (the agent): every child it has at the
    /// end of a job is then considered left behind. Elsewhere this does nothing.
    pub fn adopting_orphans(self) -> LocalHost {
        #[cfg(target_os = "linux")]
        let adopts_orphans = orphans::become_subreaper();
        #[cfg(not(target_os = "linux"))]
        let adopts_orphans = false;
        LocalHost { adopts_orphans, ..self }
    }
}

impl Default for LocalHost {
    fn default() -> Self {
        LocalHost::new()
    }
}

impl std::fmt::Debug for LocalHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHost").field("env", &format_args!("{} variables", self.env.len())).finish()
    }
}

/// `runner.os` of the machine this was compiled for.
pub fn local_platform() -> Platform {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "illumos" | "solaris" => "illumos",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        "macos" => "macOS",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "x86" => "X86",
        "arm" => "ARM",
        other => other,
    };
    Platform { os: os.to_owned(), arch: arch.to_owned() }
}

#[async_trait]
impl Host for LocalHost {
    async fn platform(&self) -> Result<Platform, HostError> {
        Ok(local_platform())
    }

    async fn base_env(&self) -> Result<BTreeMap<String, String>, HostError> {
        Ok(self.env.clone())
    }

    async fn spawn(&self, spec: SpawnSpec) -> Result<Spawned, HostError> {
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .current_dir(&spec.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().map_err(|source| HostError::Spawn {
            program: spec.program.clone(),
            cwd: spec.cwd.clone(),
            source,
        })?;
        let missing = |what: &str| HostError::Spawn {
            program: spec.program.clone(),
            cwd: spec.cwd.clone(),
            source: std::io::Error::other(format!("the child has no {what} pipe")),
        };
        let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| missing("stderr"))?;
        let pid = child.id().ok_or_else(|| missing("process id (it was already reaped)"))?;
        Ok(Spawned {
            process: Box::new(LocalProcess { child: Mutex::new(child), pid }),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
        })
    }

    async fn find_program(&self, name: &str, path_var: &str) -> Result<Option<PathBuf>, HostError> {
        if name.contains('/') {
            let path = PathBuf::from(name);
            return Ok(is_executable(&path).await.then_some(path));
        }
        for dir in path_var.split(':').filter(|d| !d.is_empty()) {
            let candidate = Path::new(dir).join(name);
            if is_executable(&candidate).await {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    async fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        tokio::fs::write(path, contents).await.map_err(|e| HostError::io("write", path, e))
    }

    async fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, HostError> {
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HostError::io("read", path, e)),
        }
    }

    async fn create_dir_all(&self, path: &Path) -> Result<(), HostError> {
        tokio::fs::create_dir_all(path).await.map_err(|e| HostError::io("create directory", path, e))
    }

    async fn remove_all(&self, path: &Path) -> Result<(), HostError> {
        let metadata = match tokio::fs::symlink_metadata(path).await {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(HostError::io("inspect", path, e)),
        };
        let result =
            if metadata.is_dir() { tokio::fs::remove_dir_all(path).await } else { tokio::fs::remove_file(path).await };
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HostError::io("remove", path, e)),
            _ => Ok(()),
        }
    }

    async fn unpack_tar(&self, dest: &Path) -> Result<Box<dyn TarSink>, HostError> {
        Ok(Box::new(unpack::LocalTarSink::start(dest.to_owned())))
    }

    async fn hash_files(&self, root: &Path, patterns: &[String]) -> Result<String, HostError> {
        let root = root.to_owned();
        let patterns = patterns.to_vec();
        tokio::task::spawn_blocking(move || hash::hash_files(&root, &patterns))
            .await
            .map_err(|e| HostError::Worker(e.to_string()))?
    }

    async fn kill_orphans(&self) -> Result<Vec<u32>, HostError> {
        if !self.adopts_orphans {
            return Ok(Vec::new());
        }
        #[cfg(target_os = "linux")]
        {
            tokio::task::spawn_blocking(orphans::kill_children).await.map_err(|e| HostError::Worker(e.to_string()))?
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(Vec::new())
        }
    }
}

async fn is_executable(path: &Path) -> bool {
    match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata.is_file() && metadata.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

struct LocalProcess {
    child: Mutex<Child>,
    pid: u32,
}

#[async_trait]
impl Process for LocalProcess {
    fn id(&self) -> u32 {
        self.pid
    }

    async fn wait(&self) -> Result<Exit, HostError> {
        let status = self.child.lock().await.wait().await.map_err(|e| HostError::Io {
            action: "wait for process",
            path: PathBuf::from(self.pid.to_string()),
            source: e,
        })?;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        })
    }

    async fn signal_group(&self, signal: Signal) -> Result<bool, HostError> {
        let number = match signal {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        let Ok(pgid) = libc::pid_t::try_from(self.pid) else {
            return Ok(false);
        };
        // SAFETY: killpg has no memory-safety preconditions. The group id is the pid of a child
        // we spawned with `process_group(0)`; POSIX keeps that id from being reused while any
        // member of the group lives, so this cannot hit a stranger's group while it matters.
        let rc = unsafe { libc::killpg(pgid, number) };
        if rc == 0 {
            return Ok(true);
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::ESRCH) {
            return Ok(false);
        }
        Err(HostError::Io { action: "signal process group", path: PathBuf::from(self.pid.to_string()), source: error })
    }
}
