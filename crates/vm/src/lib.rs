//! The `qemu` executor (brief §4): one throw-away QEMU VM per job, implementing
//! [`orchestrator::Executor`].
//!
//! Per job: a qcow2 overlay on the image's read-only base disk (none for kernel-boot images such
//! as `linux-test`), a NoCloud `cidata` seed carrying the job id as hostname and a fresh ed25519
//! public key whose private half lives only in this process's memory, passt for the network
//! (SSH forwarded from 127.0.0.1 only; [`NetworkMode`] says in which network namespace), QEMU
//! with its serial console in a file and a QMP socket, all under
//! `$SOLSTICE_STATE_DIR/vm/run/<job>-<attempt>.<try>/`. When SSH answers, the agent for the
//! image's target is uploaded through `cat`, started, and spoken to as brief §3.3 says, over the
//! SSH channel. Whatever the end (success, failure, cancel, kill, timeout, boot failure), the VM
//! is powered off (ACPI, then SIGKILL after a short grace), QEMU and passt are reaped and the
//! directory is removed.
//!
//! Host programs: `qemu-system-*`, `qemu-img`, `passt`, `mkfs.vfat`, `mcopy`, `ip` ([`Tools`]).

mod accel;
mod catalog;
mod executor;
mod netns;
mod network;
mod process;
mod qemu;
mod reconcile;
mod relay;
mod seed;
mod serial;
mod ssh;
mod tools;
mod vm;

pub use accel::{ACCEL_ENV, Accel, AccelChoice, BadAccel};
pub use catalog::{
    BUILTIN_CATALOG, BaseDisk, Catalog, CatalogError, Image, KernelBoot, QemuProfile, SeedProfile, UserDataFormat,
};
pub use executor::{QemuExecutor, QemuExecutorConfig, SetupError};
pub use network::{NetworkError, NetworkMode, Uplink};
pub use process::ToolError;
pub use seed::SeedError;
pub use ssh::SshError;
pub use tools::Tools;
pub use vm::BootError;
