//! The host programs the executor runs (Debian packages `qemu-system-x86`, `qemu-utils`, `passt`,
//! `dosfstools`, `mtools`, `iproute2`,
//! and `nftables` for [`crate::Uplink::Routed`] only).

use std::path::{Path, PathBuf};

/// Paths of the host programs. [`Tools::from_path`] finds them like a shell would, plus the
/// `sbin` directories a non-root `PATH` often lacks (`mkfs.vfat` lives there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `qemu-system-x86_64`; other guest architectures use `qemu-system-<arch>` beside it.
    pub qemu_x86_64: PathBuf,
    pub qemu_img: PathBuf,
    pub passt: PathBuf,
    pub mkfs_vfat: PathBuf,
    pub mcopy: PathBuf,
    pub ip: PathBuf,
    /// Only [`crate::Uplink::Routed`] runs it, so [`Tools::missing`] does not ask for it.
    pub nft: PathBuf,
}

impl Tools {
    pub fn from_path() -> Tools {
        Tools {
            qemu_x86_64: find("qemu-system-x86_64"),
            qemu_img: find("qemu-img"),
            passt: find("passt"),
            mkfs_vfat: find("mkfs.vfat"),
            mcopy: find("mcopy"),
            ip: find("ip"),
            nft: find("nft"),
        }
    }

    /// The system emulator for a guest architecture (`x86_64`, `aarch64`…).
    pub fn qemu_system(&self, arch: &str) -> PathBuf {
        if arch == "x86_64" {
            return self.qemu_x86_64.clone();
        }
        let name = format!("qemu-system-{arch}");
        match self.qemu_x86_64.parent() {
            Some(dir) if self.qemu_x86_64.is_absolute() => dir.join(name),
            _ => find(&name),
        }
    }

    /// The programs that are missing, by the path we would run.
    pub fn missing(&self) -> Vec<&Path> {
        [&self.qemu_x86_64, &self.qemu_img, &self.passt, &self.mkfs_vfat, &self.mcopy, &self.ip]
            .into_iter()
            .map(PathBuf::as_path)
            .filter(|path| !path.is_file())
            .collect()
    }
}

/// The first `name` in `PATH`, `/usr/sbin` or `/sbin`; the bare name when there is none (the
/// spawn then fails with "not found", naming it).
fn find(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}
