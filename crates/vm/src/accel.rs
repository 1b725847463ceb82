//! KVM or TCG. `/dev/kvm` existing proves nothing: on some hosts QEMU hangs in the guest's first
//! instructions under KVM, without an error. So the probe boots SeaBIOS under KVM with its debug
//! port on a file and waits, with a wall-clock deadline, for its first byte: guest code ran. A
//! probe that errors, aborts or stays silent means TCG. The answer is cached in the state dir,
//! keyed by the kernel's boot id, so each host boot probes once.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

use crate::process::{confined, kill_and_reap};

/// The environment variable that overrides the probe (brief §3.6).
pub const ACCEL_ENV: &str = "SOLSTICE_ACCEL";

/// How long SeaBIOS may take to say anything under KVM (it takes ~0.1 s even under TCG).
const PROBE_DEADLINE: Duration = Duration::from_secs(3);

/// What the operator asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM when the probe shows it works, else TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

/// What a VM runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

#[derive(Debug, thiserror::Error)]
#[error("{ACCEL_ENV} must be kvm, tcg or auto, not {0:?}")]
pub struct BadAccel(String);

impl FromStr for AccelChoice {
    type Err = BadAccel;

    fn from_str(text: &str) -> Result<Self, BadAccel> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            _ => Err(BadAccel(text.to_owned())),
        }
    }
}

impl AccelChoice {
    /// `SOLSTICE_ACCEL`, `auto` when unset.
    pub fn from_env() -> Result<AccelChoice, BadAccel> {
        match std::env::var(ACCEL_ENV) {
            Ok(value) => value.parse(),
            Err(_) => Ok(AccelChoice::Auto),
        }
    }
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Decides the accelerator: `choice` when it names one, else the cached probe result in
/// `cache_dir`, else a fresh probe with `qemu` (whose result is then cached).
pub async fn resolve(choice: AccelChoice, qemu: &Path, cache_dir: &Path) -> Accel {
    match choice {
        AccelChoice::Kvm => return Accel::Kvm,
        AccelChoice::Tcg => return Accel::Tcg,
        AccelChoice::Auto => {}
    }
    let cache = cache_dir.join("accel");
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let boot_id = boot_id.trim();
    if let Some(accel) = read_cache(&cache, boot_id) {
        return accel;
    }
    let accel = probe(qemu, cache_dir).await;
    if let Err(error) = std::fs::write(&cache, format!("{} {boot_id}\n", accel.as_str())) {
        tracing::warn!(%error, cache = %cache.display(), "caching the accelerator probe failed");
    }
    accel
}

fn read_cache(cache: &Path, boot_id: &str) -> Option<Accel> {
    let text = std::fs::read_to_string(cache).ok()?;
    let (accel, cached_boot) = text.trim().split_once(' ')?;
    if cached_boot != boot_id || boot_id.is_empty() {
        return None;
    }
    match accel {
        "kvm" => Some(Accel::Kvm),
        "tcg" => Some(Accel::Tcg),
        _ => None,
    }
}

/// Boots SeaBIOS under KVM and waits for its first debug byte.
async fn probe(qemu: &Path, scratch: &Path) -> Accel {
    if !Path::new("/dev/kvm").exists() {
        tracing::info!("no /dev/kvm: using TCG");
        return Accel::Tcg;
    }
    let log = scratch.join(format!("accel-probe-{}.log", std::process::id()));
    let said = log.with_extension("err");
    let started = Instant::now();
    let works = probe_with(qemu, &log, &said).await.map_err(|why| {
        let said = std::fs::read_to_string(&said).unwrap_or_default();
        match said.lines().map(str::trim).rfind(|line| !line.is_empty()) {
            Some(last) => format!("{why}: {last}"),
            None => why,
        }
    });
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&said);
    match works {
        Ok(()) => {
            tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "KVM works: using it");
            Accel::Kvm
        }
        Err(why) => {
            tracing::warn!(%why, "KVM does not work here: using TCG (slow)");
            Accel::Tcg
        }
    }
}

async fn probe_with(qemu: &Path, log: &PathBuf, said: &Path) -> Result<(), String> {
    let said = std::fs::File::create(said).map_err(|error| format!("cannot create {}: {error}", said.display()))?;
    let mut command = confined(qemu, None);
    command
        .args(["-accel", "kvm", "-cpu", "host", "-machine", "q35", "-m", "64"])
        .args(["-nodefaults", "-display", "none", "-no-reboot", "-chardev"])
        .arg(format!("file,id=dbg,path={}", crate::qemu::option_path(log)?))
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=dbg"])
        .stdout(std::process::Stdio::null())
        .stderr(said);
    let mut child = command.spawn().map_err(|error| format!("cannot start {}: {error}", qemu.display()))?;
    let deadline = Instant::now() + PROBE_DEADLINE;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let outcome = loop {
        tick.tick().await;
        if std::fs::metadata(log).map(|m| m.len() > 0).unwrap_or(false) {
            break Ok(());
        }
        match child.try_wait() {
            Ok(Some(status)) => break Err(format!("QEMU exited ({})", crate::process::describe(status))),
            Err(error) => break Err(format!("waiting for QEMU failed: {error}")),
            Ok(None) if Instant::now() >= deadline => {
                break Err(format!("the guest said nothing within {} s", PROBE_DEADLINE.as_secs()));
            }
            Ok(None) => {}
        }
    };
    kill_and_reap(&mut child).await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_setting() {
        for (text, expected) in [("kvm", AccelChoice::Kvm), ("TCG", AccelChoice::Tcg), ("auto", AccelChoice::Auto)] {
            assert_eq!(text.parse::<AccelChoice>().unwrap(), expected, "{text}");
        }
        assert!("hvf".parse::<AccelChoice>().is_err());
    }

    #[test]
    fn the_cache_holds_only_for_the_same_boot() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("accel");
        std::fs::write(&cache, "kvm abc\n").unwrap();
        assert_eq!(read_cache(&cache, "abc"), Some(Accel::Kvm));
        assert_eq!(read_cache(&cache, "def"), None);
        assert_eq!(read_cache(&cache, ""), None);
    }
}
