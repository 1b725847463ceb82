//! Host disk admission: a job's qcow2 overlay can grow up to its base disk's virtual size, so
//! a job is refused before anything boots when that, plus a reserve, could fill the filesystem
//! the overlays live on. The overlays of this process's running VMs count with what they may
//! still grow by (their virtual size less what they already hold), so two jobs admitted at once
//! cannot each be promised the same free space.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Whether a job may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// The overlay could grow to `needed` bytes (base virtual size plus the reserve) and only
    /// `free` are free.
    Refuse {
        needed: u64,
        free: u64,
    },
}

/// Room kept free beyond the overlay's worst case, for the seed, serial log and the host itself.
pub const RESERVE_BYTES: u64 = 1 << 30;

/// Decides for an overlay on a base of `base_virtual_size` bytes with `free_bytes` free for it
/// (after what running overlays may still take). Kernel-boot images have no overlay: pass 0.
pub fn admit(base_virtual_size: u64, free_bytes: u64) -> Admission {
    let needed = base_virtual_size.saturating_add(RESERVE_BYTES);
    if base_virtual_size == 0 || needed <= free_bytes {
        Admission::Admit
    } else {
        Admission::Refuse { needed, free: free_bytes }
    }
}

/// The disk size a guest sees on `base`: a qcow2 header's size field, a raw file's length.
pub fn virtual_size(base: &Path, format: &str) -> std::io::Result<u64> {
    if format != "qcow2" {
        return Ok(std::fs::metadata(base)?.len());
    }
    // QEMU's qcow2 header: magic "QFI\xfb", version, backing file offset and size, cluster
    // bits, then the virtual size as a big-endian u64 at byte 24.
    let mut header = [0u8; 32];
    std::fs::File::open(base)?.read_exact(&mut header)?;
    if header[..4] != *b"QFI\xfb" {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a qcow2 file (no QFI magic)"));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&header[24..32]);
    Ok(u64::from_be_bytes(size))
}

/// Bytes an unprivileged writer may still use on the filesystem holding `dir`.
#[cfg(unix)]
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stats` is a valid place for the result.
    let status = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if status != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Ok(u64::from(stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
}

#[cfg(not(unix))]
pub fn free_bytes(_dir: &Path) -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// Bytes a file holds on disk (a sparse overlay holds far less than its length).
fn allocated(path: &Path) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).map(|meta| meta.blocks().saturating_mul(512)).unwrap_or(0)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
    }
}

/// Overlays of this process's running VMs and the virtual size each may grow to.
static RUNNING: Mutex<Option<HashMap<PathBuf, u64>>> = Mutex::new(None);

fn running() -> MutexGuard<'static, Option<HashMap<PathBuf, u64>>> {
    RUNNING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Room promised to one overlay until dropped (with its VM).
#[derive(Debug)]
pub(crate) struct Reservation {
    overlay: PathBuf,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(map) = running().as_mut() {
            map.remove(&self.overlay);
        }
    }
}

/// Why a job was refused: its overlay could grow to `needed` and `free` is what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub needed: u64,
    pub free: u64,
}

/// Reserves room for an overlay at `overlay` on a base of `virtual_size`: free space on the
/// overlay's filesystem, less what running overlays may still grow by, must hold it plus the
/// reserve.
pub(crate) fn reserve(overlay: &Path, virtual_size: u64) -> Result<Reservation, Refused> {
    let dir = overlay.parent().unwrap_or(Path::new("."));
    let mut guard = running();
    let map = guard.get_or_insert_with(HashMap::new);
    let promised: u64 =
        map.iter().map(|(path, size)| size.saturating_sub(allocated(path))).fold(0, u64::saturating_add);
    // A filesystem that cannot be asked is not refused on: the overlay's creation will say.
    let free = free_bytes(dir).unwrap_or(u64::MAX).saturating_sub(promised);
    match admit(virtual_size, free) {
        Admission::Admit => {
            map.insert(overlay.to_owned(), virtual_size);
            Ok(Reservation { overlay: overlay.to_owned() })
        }
        Admission::Refuse { needed, free } => Err(Refused { needed, free }),
    }
}

/// `12.3 GiB`.
pub(crate) fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_the_overlay_could_outgrow_the_free_space() {
        let gib = 1u64 << 30;
        assert_eq!(admit(0, 0), Admission::Admit, "no overlay, nothing to grow");
        assert_eq!(admit(20 * gib, 30 * gib), Admission::Admit);
        assert_eq!(admit(20 * gib, 21 * gib), Admission::Admit, "exactly the reserve left");
        assert_eq!(admit(20 * gib, 20 * gib), Admission::Refuse { needed: 21 * gib, free: 20 * gib });
        assert_eq!(admit(u64::MAX, u64::MAX - 1), Admission::Refuse { needed: u64::MAX, free: u64::MAX - 1 });
    }

    #[test]
    fn reads_the_virtual_size_of_qcow2_and_raw_bases() {
        let dir = tempfile::tempdir().unwrap();
        let qcow2 = dir.path().join("base.qcow2");
        let mut header = b"QFI\xfb".to_vec();
        header.extend_from_slice(&[0u8; 20]);
        header.extend_from_slice(&(64u64 << 40).to_be_bytes());
        std::fs::write(&qcow2, &header).unwrap();
        assert_eq!(virtual_size(&qcow2, "qcow2").unwrap(), 64 << 40);
        let raw = dir.path().join("base.img");
        std::fs::write(&raw, vec![0u8; 4096]).unwrap();
        assert_eq!(virtual_size(&raw, "raw").unwrap(), 4096);
        let error = virtual_size(&raw, "qcow2").unwrap_err();
        assert!(error.to_string().contains("not a qcow2 file"), "{error}");
    }

    #[test]
    fn a_running_overlay_keeps_its_room_until_its_reservation_goes() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        let gib = 1u64 << 30;
        assert!(free > 10 * gib, "the test needs 10 GiB free in {}", dir.path().display());
        // The first leaves ~3 GiB unpromised; the second needs 4 + 1: 2 GiB of margin for
        // whatever else writes to this disk meanwhile.
        let first = reserve(&dir.path().join("a.qcow2"), free - 3 * gib).expect("room for the first");
        let refused = reserve(&dir.path().join("b.qcow2"), 4 * gib).expect_err("promised to the first");
        assert_eq!(refused.needed, 5 * gib);
        assert!(refused.free < 5 * gib, "{refused:?}");
        drop(first);
        reserve(&dir.path().join("b.qcow2"), 4 * gib).expect("room once the first is gone");
    }
}
