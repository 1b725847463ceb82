//! `solstice install`: installs Solstice CI as system services. It writes the systemd units of
//! `deploy/systemd/` (built into the binary) to `/etc/systemd/system`, a settings file per unit
//! to `/etc/solstice/*.env` (mode 0600 in a 0700 directory, one freshly generated bus key shared
//! by every file it writes; a file that exists is kept as it is, key included), creates the
//! system user `solstice` the runners run as, installs this executable as
//! `/usr/local/bin/solstice` (or, with `--binaries DIR`, all five binaries from DIR) and runs
//! `systemctl daemon-reload`. It enables and starts nothing: the settings need filling first.
//!
//! Exit codes: 0 done, 1 a step failed, 2 usage, 3 not root (without `--dry-run` or `--root`).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Print what would be done and change nothing (no root needed).
    #[arg(long)]
    pub dry_run: bool,
    /// Install under DIR instead of `/` (a staging tree: no user is created, no systemctl).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also install orchestrator, forgejo-runner, github-runner, solstice and workflow-runner
    /// from DIR (e.g. target/release) to /usr/local/bin; without it only this executable is.
    #[arg(long, value_name = "DIR")]
    pub binaries: Option<PathBuf>,
}

/// A file of `deploy/systemd/`, built in.
struct Embedded {
    name: &'static str,
    text: &'static str,
}

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(Embedded { name: $name, text: include_str!(concat!("../../../deploy/systemd/", $name)) }),*]
    };
}

const UNITS: &[Embedded] = embedded![
    "solstice-orchestrator.service",
    "solstice-forgejo-runner.service",
    "solstice-github-runner.service",
    "solstice-serve.service",
];

const TEMPLATES: &[Embedded] = embedded!["orchestrator.env", "forgejo-runner.env", "github-runner.env", "serve.env"];

/// What `--binaries` copies, and what the units start.
const BINARIES: &[&str] = &["orchestrator", "forgejo-runner", "github-runner", "solstice", "workflow-runner"];

const BUS_KEY_PLACEHOLDER: &str = "@BUS_KEY@";

mod exit {
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_ROOT: u8 = 3;
}

#[derive(Debug, thiserror::Error)]
enum InstallError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is missing (cargo build --release --locked first)", .0.display())]
    MissingBinary(PathBuf),
    #[error("find this executable: {0}")]
    CurrentExe(#[source] std::io::Error),
    #[error("generate a bus key: {0}")]
    Key(#[source] contract::KeyError),
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| InstallError::Io { what, path, source }
}

/// Runs `solstice install`; returns the exit code.
pub fn main(args: InstallArgs) -> u8 {
    if !args.dry_run && args.root.is_none() && !is_root() {
        tracing::error!("run as root (or with --dry-run, or --root DIR for a staging tree)");
        eprintln!("solstice install: run as root (or with --dry-run, or --root DIR for a staging tree)");
        return exit::NOT_ROOT;
    }
    if args.root.as_deref().is_some_and(|root| root.as_os_str().is_empty()) {
        eprintln!("solstice install: --root needs a directory");
        return exit::USAGE;
    }
    match install(&args) {
        Ok(()) => {
            let root = args.root.as_deref().map(|root| root.display().to_string()).unwrap_or_default();
            eprintln!(
                "solstice install: next steps\n  \
                 1. edit {root}/etc/solstice/*.env (SOLSTICE_AMQP_URL at least for the separate daemons; \
                 see docs/configuration.md)\n  \
                 2. register a runner (docs/getting-started-forgejo.md, docs/getting-started-github.md), \
                 or fill serve.env\n  \
                 3. systemctl enable --now solstice-serve (one host, no RabbitMQ or PostgreSQL)\n     \
                 or systemctl enable --now solstice-orchestrator solstice-forgejo-runner"
            );
            0
        }
        Err(error) => {
            tracing::error!(%error, "install failed");
            eprintln!("solstice install: {error}");
            exit::FAILED
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Where things go: under `root`, and whether anything is changed at all.
struct Target {
    root: PathBuf,
    staged: bool,
    dry_run: bool,
}

impl Target {
    fn path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    fn dir(&self, path: &Path, mode: u32) -> Result<(), InstallError> {
        if self.dry_run {
            println!("would create: {} (mode {mode:04o})", path.display());
            return Ok(());
        }
        std::fs::DirBuilder::new().recursive(true).mode(mode).create(path).map_err(io("create", path))?;
        // The umask may have narrowed the mode; the directory says exactly what it allows.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("set the mode of", path))
    }

    /// Writes `bytes` to `path` with `mode`, via a temporary file renamed into place.
    fn file(&self, path: &Path, bytes: &[u8], mode: u32, what: &str) -> Result<(), InstallError> {
        if self.dry_run {
            println!("would write: {} (mode {mode:04o}, {what})", path.display());
            return Ok(());
        }
        let staging = path.with_extension("solstice-install");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&staging)
            .map_err(io("create", &staging))?;
        file.write_all(bytes).map_err(io("write", &staging))?;
        file.sync_all().map_err(io("write", &staging))?;
        drop(file);
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode))
            .map_err(io("set the mode of", &staging))?;
        std::fs::rename(&staging, path).map_err(io("install", path))?;
        eprintln!("solstice install: wrote {}", path.display());
        Ok(())
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), InstallError> {
        let command = format!("{program} {}", args.join(" "));
        if self.dry_run {
            println!("would run: {command}");
            return Ok(());
        }
        match Command::new(program).args(args).output() {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(InstallError::Command {
                command,
                detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            }),
            Err(error) => Err(InstallError::Command { command, detail: error.to_string() }),
        }
    }
}

fn install(args: &InstallArgs) -> Result<(), InstallError> {
    let target = Target {
        root: args.root.clone().unwrap_or_else(|| PathBuf::from("/")),
        staged: args.root.is_some(),
        dry_run: args.dry_run,
    };
    let binaries = binaries_to_install(args.binaries.as_deref())?;

    if !target.staged {
        user(&target)?;
    }

    let bin_dir = target.path("/usr/local/bin");
    target.dir(&bin_dir, 0o755)?;
    for (name, source) in &binaries {
        let destination = bin_dir.join(name);
        if same_file(source, &destination) {
            eprintln!("solstice install: {} is already in place", destination.display());
            continue;
        }
        let bytes = std::fs::read(source).map_err(io("read", source))?;
        target.file(&destination, &bytes, 0o755, &format!("from {}", source.display()))?;
    }

    let units = target.path("/etc/systemd/system");
    target.dir(&units, 0o755)?;
    for unit in UNITS {
        target.file(&units.join(unit.name), unit.text.as_bytes(), 0o644, "a systemd unit")?;
    }

    // One key for every settings file this run writes, so the runners and the orchestrator
    // agree; a file that exists keeps its own.
    let key = contract::BusKey::generate().map_err(InstallError::Key)?.to_base64();
    let settings = target.path("/etc/solstice");
    target.dir(&settings, 0o700)?;
    for template in TEMPLATES {
        let path = settings.join(template.name);
        if path.exists() {
            eprintln!("solstice install: {} exists; kept as it is", path.display());
            continue;
        }
        let text = template.text.replace(BUS_KEY_PLACEHOLDER, key.expose());
        target.file(&path, text.as_bytes(), 0o600, "settings with a new bus key")?;
    }

    if !target.staged {
        if Path::new("/run/systemd/system").is_dir() {
            target.run("systemctl", &["daemon-reload"])?;
        } else {
            eprintln!("solstice install: systemd is not running here: run 'systemctl daemon-reload' where it does");
        }
    }
    Ok(())
}

/// `(name, source)` of each binary to install: all five from `dir`, else this executable.
fn binaries_to_install(dir: Option<&Path>) -> Result<Vec<(&'static str, PathBuf)>, InstallError> {
    match dir {
        Some(dir) => BINARIES
            .iter()
            .map(|name| {
                let path = dir.join(name);
                if path.is_file() { Ok((*name, path)) } else { Err(InstallError::MissingBinary(path)) }
            })
            .collect(),
        None => Ok(vec![("solstice", std::env::current_exe().map_err(InstallError::CurrentExe)?)]),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The system user the runners run as (the orchestrator and `solstice serve` run as root).
fn user(target: &Target) -> Result<(), InstallError> {
    let exists = Command::new("id").arg("solstice").output().is_ok_and(|output| output.status.success());
    if exists {
        eprintln!("solstice install: user solstice exists");
        return Ok(());
    }
    target.run(
        "useradd",
        &["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "solstice"],
    )
}
