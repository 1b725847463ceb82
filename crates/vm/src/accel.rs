//! KVM or TCG. `/dev/kvm` existing proves nothing: on some hosts QEMU hangs under KVM without an
//! error, and on others (nested virtualisation) KVM runs guest code but every exit and every
//! first touch of guest memory costs so much that a Linux kernel which boots in 6 s under TCG
//! does not reach userland in two minutes. So the probe boots a tiny multiboot guest
//! (`accel/probe.S`: it touches 58 MiB of memory between two markers on the debug port) under
//! KVM and under TCG, each with a wall-clock deadline, and times QEMU's start to the end marker.
//! KVM is used when it finished and was not much slower than TCG; a KVM probe that errors,
//! aborts or stays silent means TCG. The answer is cached in the state dir, keyed by the
//! kernel's boot id, so each host boot probes once.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

use crate::process::{confined, kill_and_reap};

/// The environment variable that overrides the probe (brief §3.6).
pub const ACCEL_ENV: &str = "SOLSTICE_ACCEL";

/// How long the probe guest may take to its end marker (~0.1 s under TCG, and under KVM on
/// hardware; 1.3 s under the slow nested KVM it was written for).
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

/// `accel/probe.S`, assembled: a multiboot image loaded at 1 MiB that writes 0x01 to port 0x402,
/// touches a word in every page from 2 MiB to 60 MiB, writes 0x02 and halts.
const PROBE_GUEST: [u8; 70] = [
    0x02, 0xb0, 0xad, 0x1b, 0x00, 0x00, 0x01, 0x00, 0xfe, 0x4f, 0x51, 0xe4, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x10, 0x00, 0x66, 0xba, 0x02, 0x04, 0xb0, 0x01,
    0xee, 0xbf, 0x00, 0x00, 0x20, 0x00, 0xc7, 0x07, 0x01, 0x00, 0x00, 0x00, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, 0x81,
    0xff, 0x00, 0x00, 0xc0, 0x03, 0x72, 0xec, 0xb0, 0x02, 0xee, 0xf4, 0xeb, 0xfd,
];

/// The probe guest's end marker on the debug port.
const PROBE_DONE: u8 = 0x02;

/// KVM slower than TCG by more than this factor, and slower than [`SLOW_KVM`], is not used.
const SLOWER_THAN_TCG: u32 = 3;
const SLOW_KVM: Duration = Duration::from_millis(500);

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

/// Runs the probe guest under KVM and under TCG and picks one (see the module's comment).
async fn probe(qemu: &Path, scratch: &Path) -> Accel {
    if !Path::new("/dev/kvm").exists() {
        tracing::info!("no /dev/kvm: using TCG");
        return Accel::Tcg;
    }
    let guest = scratch.join(format!("accel-probe-{}.img", std::process::id()));
    if let Err(error) = std::fs::write(&guest, PROBE_GUEST) {
        tracing::warn!(%error, path = %guest.display(), "cannot write the probe guest: using TCG");
        return Accel::Tcg;
    }
    let kvm = timed_run(qemu, Accel::Kvm, &guest, scratch).await;
    let tcg = match &kvm {
        Ok(_) => timed_run(qemu, Accel::Tcg, &guest, scratch).await,
        Err(_) => Err("not run".to_owned()),
    };
    let _ = std::fs::remove_file(&guest);
    let accel = match (&kvm, &tcg) {
        (Err(why), _) => {
            tracing::warn!(%why, "KVM does not work here: using TCG (slow)");
            return Accel::Tcg;
        }
        // TCG not answering says nothing against KVM, which did.
        (Ok(kvm), Err(why)) => {
            tracing::info!(kvm_ms = kvm.as_millis() as u64, %why, "KVM works (the TCG comparison failed): using it");
            return Accel::Kvm;
        }
        (Ok(kvm), Ok(tcg)) => decide(*kvm, *tcg),
    };
    let (kvm_ms, tcg_ms) =
        (kvm.map(|d| d.as_millis() as u64).unwrap_or(0), tcg.map(|d| d.as_millis() as u64).unwrap_or(0));
    match accel {
        Accel::Kvm => tracing::info!(kvm_ms, tcg_ms, "KVM works: using it"),
        Accel::Tcg => tracing::warn!(
            kvm_ms,
            tcg_ms,
            "KVM runs guests here but slower than TCG (nested virtualisation?): using TCG; set SOLSTICE_ACCEL=kvm to force it"
        ),
    }
    accel
}

/// KVM unless it was more than [`SLOWER_THAN_TCG`] times slower than TCG and slower than
/// [`SLOW_KVM`] on the same guest.
fn decide(kvm: Duration, tcg: Duration) -> Accel {
    if kvm > tcg * SLOWER_THAN_TCG && kvm > SLOW_KVM { Accel::Tcg } else { Accel::Kvm }
}

/// Boots the probe guest under `accel` and returns the time from spawning QEMU to the guest's
/// end marker, or why there was none within [`PROBE_DEADLINE`].
async fn timed_run(qemu: &Path, accel: Accel, guest: &Path, scratch: &Path) -> Result<Duration, String> {
    let log = scratch.join(format!("accel-probe-{}-{}.log", std::process::id(), accel.as_str()));
    let said = log.with_extension("err");
    let result = run_guest(qemu, accel, guest, &log, &said).await.map_err(|why| {
        let said = std::fs::read_to_string(&said).unwrap_or_default();
        match said.lines().map(str::trim).rfind(|line| !line.is_empty()) {
            Some(last) => format!("{why}: {last}"),
            None => why,
        }
    });
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&said);
    result
}

async fn run_guest(qemu: &Path, accel: Accel, guest: &Path, log: &Path, said: &Path) -> Result<Duration, String> {
    let said = std::fs::File::create(said).map_err(|error| format!("cannot create {}: {error}", said.display()))?;
    let mut command = confined(qemu, None);
    command.args(["-accel", accel.as_str()]);
    if accel == Accel::Kvm {
        command.args(["-cpu", "host"]);
    }
    command
        .args(["-machine", "q35", "-m", "64", "-nodefaults", "-display", "none", "-no-reboot", "-chardev"])
        .arg(format!("file,id=dbg,path={}", crate::qemu::option_path(log)?))
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=dbg", "-kernel"])
        .arg(guest)
        .stdout(std::process::Stdio::null())
        .stderr(said);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|error| format!("cannot start {}: {error}", qemu.display()))?;
    let deadline = started + PROBE_DEADLINE;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let outcome = loop {
        tick.tick().await;
        if std::fs::read(log).is_ok_and(|bytes| bytes.contains(&PROBE_DONE)) {
            break Ok(started.elapsed());
        }
        match child.try_wait() {
            Ok(Some(status)) => break Err(format!("QEMU exited ({})", crate::process::describe(status))),
            Err(error) => break Err(format!("waiting for QEMU failed: {error}")),
            Ok(None) if Instant::now() >= deadline => {
                break Err(format!("the probe guest did not finish within {} s", PROBE_DEADLINE.as_secs()));
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
    fn kvm_much_slower_than_tcg_is_not_used() {
        let ms = Duration::from_millis;
        assert_eq!(decide(ms(150), ms(200)), Accel::Kvm, "KVM on hardware");
        assert_eq!(decide(ms(400), ms(70)), Accel::Kvm, "slower, but fast enough not to matter");
        assert_eq!(decide(ms(1300), ms(210)), Accel::Tcg, "the nested KVM this was written for");
        assert_eq!(decide(ms(1300), ms(600)), Accel::Kvm, "a loaded host slows both");
    }

    #[test]
    fn the_probe_guest_is_a_multiboot_image_with_both_markers() {
        let word = |at: usize| u32::from_le_bytes(PROBE_GUEST[at..at + 4].try_into().unwrap());
        assert_eq!(word(0), 0x1BAD_B002);
        assert_eq!(word(0).wrapping_add(word(4)).wrapping_add(word(8)), 0, "the multiboot checksum");
        assert_eq!(word(28), 0x0010_0020, "entry right after the 32-byte header");
        // mov $1, %al / mov $2, %al, each followed by out %al, %dx.
        assert!(PROBE_GUEST.windows(3).any(|w| w == [0xb0, 0x01, 0xee]));
        assert!(PROBE_GUEST.windows(3).any(|w| w == [0xb0, PROBE_DONE, 0xee]));
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
