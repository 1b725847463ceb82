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
//! **Guest network.** passt turns the guest's connections into sockets of its own, so a guest
//! reaches exactly what passt's network namespace reaches; `--no-map-gw` keeps passt from mapping
//! the guest's gateway to that namespace's loopback. With [`Uplink::Routed`] each VM gets a
//! namespace of its own, joined to the host by a veth pair (`solvN` on the host, one /30 out of
//! 169.254.192.0/18 per VM) with NAT on the host side. Inside, `ip rule`s prohibit loopback,
//! RFC 1918, CGNAT, link-local (169.254.169.254 included), multicast and reserved IPv4
//! destinations and every address the host held when the VM started; IPv6 is off. On the host,
//! the nftables table `inet solstice_vm` rejects whatever a `solv*` interface sends to the host
//! itself (addresses it gains later included), drops forwarding to those ranges, between VMs and
//! over IPv6, and masquerades the rest; `net.ipv4.ip_forward` is on. So a guest reaches the WAN
//! and nothing of the host. [`Uplink::Blackhole`] (the default) reaches nothing at all.
//!
//! Host programs: `qemu-system-*`, `qemu-img`, `passt`, `mkfs.vfat`, `mcopy`, `ip` ([`Tools`]),
//! and `nft` for [`Uplink::Routed`].

mod accel;
pub mod admission;
mod agent_file;
mod agentless;
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
    BUILTIN_CATALOG, BaseDisk, Catalog, CatalogError, ChecksumAlgorithm, Compression, Download, DownloadSource, Image,
    KernelBoot, QemuProfile, SeedProfile, SourceFormat, UserDataFormat,
};
pub use executor::{QemuExecutor, QemuExecutorConfig, SetupError};
pub use network::{NetworkError, NetworkMode, Uplink};
pub use process::ToolError;
pub use seed::SeedError;
pub use ssh::SshError;
pub use tools::Tools;
pub use vm::BootError;
