//! The image cache under `$SOLSTICE_STATE_DIR/images/<label>/` (brief §6), behind `solstice
//! images`:
//!
//! - [`list`]: every catalog label, its OS, whether its files are here and how much they take;
//! - [`pull`]: fetch an image's checksum source, download the image while hashing it, verify,
//!   decompress (zstd, xz), convert to qcow2 with `qemu-img`, and install it atomically: all of it
//!   happens in `images/.pull-<label>-<id>/`, renamed to `images/<label>/` only at the end, so an
//!   interrupted or failed pull leaves no half image (and the next pull removes its leftovers);
//! - [`verify`]: boot an image through an executor with a trivial job and time it.
//!
//! Whether a job's overlay could outgrow the host's free space is decided where overlays are
//! made, in `vm::admission`.
//!
//! Nothing here prints: the one exception is [`TerminalBar`], the progress bar a binary may hand
//! to [`pull`] when stderr is a terminal.

mod list;
mod progress;
mod pull;
mod verify;

use std::path::{Path, PathBuf};

pub use list::{ListEntry, list};
pub use progress::{NoProgress, Progress, TerminalBar};
pub use pull::{PullError, PullOptions, pull};
pub use verify::{VerifyError, VerifyReport, verify};

/// Where images live: `<state_dir>/images`, the executor's default `images_dir`.
pub fn images_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("images")
}

/// The files an image boots from, relative to its directory: the kernel (and initrd) of a
/// kernel-boot image, the base disk of a disk image. The image is cached when all exist.
pub fn boot_files(image: &vm::Image) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(kernel) = &image.kernel {
        files.push(kernel.kernel.clone());
        files.extend(kernel.initrd.clone());
    }
    if let Some(disk) = &image.disk {
        files.push(disk.file.clone());
    }
    files
}
