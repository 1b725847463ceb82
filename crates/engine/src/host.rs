//! The seam between "where processes run" and "what a step means".
//!
//! The engine never touches the file system or spawns a process itself: everything goes through
//! a [`Host`]. [`crate::LocalHost`] is the agent's implementation; the orchestrator implements it
//! over SSH for guests without an agent, so paths are paths *on the host*, not on this machine.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::io::AsyncRead;

/// Where processes run: spawn, files, program lookup, platform.
#[async_trait]
pub trait Host: Send + Sync {
    /// The platform as the `runner` context names it.
    async fn platform(&self) -> Result<Platform, HostError>;

    /// The environment every step starts from (`HOME`, `PATH`, `USER`, …): the agent's own
    /// environment locally, the login environment over SSH.
    async fn base_env(&self) -> Result<BTreeMap<String, String>, HostError>;

    /// Starts `spec.program` in a process group of its own, with exactly `spec.env`, stdin closed
    /// and stdout/stderr piped.
    async fn spawn(&self, spec: SpawnSpec) -> Result<Spawned, HostError>;

    /// Looks `name` up the way a shell would with `PATH=path_var` (a name containing `/` is
    /// checked as it is). `None` when it is not there or not executable.
    async fn find_program(&self, name: &str, path_var: &str) -> Result<Option<PathBuf>, HostError>;

    /// Creates or truncates `path` and writes `contents` (the parent directory exists).
    async fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), HostError>;

    /// Reads `path` whole. `Ok(None)` when it does not exist.
    async fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, HostError>;

    /// Creates `path` and its parents.
    async fn create_dir_all(&self, path: &Path) -> Result<(), HostError>;

    /// Removes a file or a directory tree; a missing path is not an error.
    async fn remove_all(&self, path: &Path) -> Result<(), HostError>;

    /// Returns a sink that unpacks a tar stream into `dest` (which exists). Entries whose path
    /// would land outside `dest` (absolute, `..`, through a symlink) fail the unpack.
    async fn unpack_tar(&self, dest: &Path) -> Result<Box<dyn TarSink>, HostError>;

    /// `hashFiles(patterns…)` under `root` as GitHub computes it: the SHA-256 of the
    /// concatenated SHA-256 digests of every matching regular file, hex; `""` when none match.
    /// Patterns starting with `!` exclude.
    async fn hash_files(&self, root: &Path, patterns: &[String]) -> Result<String, HostError>;

    /// Kills processes steps started that left their process group (daemons that called
    /// `setsid`), once every step's group was killed. Returns their ids. Hosts that cannot find
    /// such processes do nothing, which is the default.
    async fn kill_orphans(&self) -> Result<Vec<u32>, HostError> {
        Ok(Vec::new())
    }
}

/// What to start.
#[derive(Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment of the new process (nothing is inherited).
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl fmt::Debug for SpawnSpec {
    // The environment may hold values a step derived from secrets; keep it out of traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnSpec")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &format_args!("{} variables", self.env.len()))
            .field("cwd", &self.cwd)
            .finish()
    }
}

/// A started process with its output pipes.
pub struct Spawned {
    pub process: Box<dyn Process>,
    pub stdout: ByteStream,
    pub stderr: ByteStream,
}

pub type ByteStream = Box<dyn AsyncRead + Send + Unpin>;

/// A running process that leads its own process group.
#[async_trait]
pub trait Process: Send + Sync {
    /// The process id (= process group id), for logs.
    fn id(&self) -> u32;

    /// Waits for the group leader to exit. May be called while [`Process::signal_group`] is used.
    async fn wait(&self) -> Result<Exit, HostError>;

    /// Sends `signal` to every process of the group. `Ok(false)` when the group is gone.
    async fn signal_group(&self, signal: Signal) -> Result<bool, HostError>;
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// The exit code a shell (and GitHub's runner) reports: 128 + signal for a killed process.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Kill,
}

/// `runner.os` and `runner.arch` as GitHub spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `Linux`, `illumos`, `FreeBSD`, `macOS`, …
    pub os: String,
    /// `X64`, `ARM64`, …
    pub arch: String,
}

impl Platform {
    /// From `uname -s` and `uname -m`, for hosts reached over SSH.
    pub fn from_uname(system: &str, machine: &str) -> Platform {
        let os = match system.trim() {
            "Linux" => "Linux",
            "SunOS" | "illumos" => "illumos",
            "FreeBSD" => "FreeBSD",
            "OpenBSD" => "OpenBSD",
            "NetBSD" => "NetBSD",
            "Darwin" => "macOS",
            other => other,
        };
        let arch = match machine.trim() {
            "x86_64" | "amd64" | "i86pc" => "X64",
            "aarch64" | "arm64" => "ARM64",
            "i386" | "i686" | "x86" => "X86",
            other => other,
        };
        Platform { os: os.to_owned(), arch: arch.to_owned() }
    }
}

/// Receives a tar stream chunk by chunk.
#[async_trait]
pub trait TarSink: Send {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), HostError>;
    /// The stream is complete: wait until every entry is on disk.
    async fn finish(self: Box<Self>) -> Result<(), HostError>;
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("start {} in {}", program.display(), cwd.display())]
    Spawn {
        program: PathBuf,
        cwd: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unpack the workspace: {0}")]
    Unpack(String),
    #[error("use the file pattern '{pattern}': {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("run a blocking task: {0}")]
    Worker(String),
    /// A failure of the transport of a remote host (SSH), in its own words.
    #[error("{0}")]
    Remote(String),
}

impl HostError {
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> HostError {
        HostError::Io { action, path: path.to_owned(), source }
    }
}

/// An error and its sources as one line, for a job log.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
