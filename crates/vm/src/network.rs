//! The guest's network: passt, which QEMU reaches over a unix socket, gives the guest an address
//! by DHCP and forwards one host port (bound to 127.0.0.1 only) to the guest's SSH port.
//!
//! Where passt runs is the [`NetworkMode`]. Its "host side" is the network namespace it runs in:
//! passt is a user-space translator that turns the guest's connections into its own sockets, so
//! whatever that namespace can reach, the guest can reach, and nothing else. `--no-map-gw` keeps
//! passt from mapping the guest's gateway address to the namespace's loopback. Isolating a guest
//! from the host is therefore a matter of what the per-VM namespace may reach: see
//! [`Uplink::Routed`].

mod dns;
mod routed;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio::time::Instant;

use crate::netns::Netns;
use crate::process::{ToolError, confined, describe};
use crate::tools::Tools;

/// Where each VM's passt (and QEMU) run, and so what the guest can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// In the orchestrator's own network namespace: the guest reaches what this host reaches,
    /// its private networks included, but not its loopback. The SSH forward is a port on the
    /// host's 127.0.0.1, which any local user could race us for. For a developer's machine, or
    /// a process that already runs in a namespace of its own.
    Shared,
    /// A fresh network namespace per VM (Linux, needs CAP_SYS_ADMIN), holding passt and QEMU.
    /// The SSH forward's port exists only inside it; the orchestrator connects from a thread
    /// that joins it for the `connect` alone. `uplink` says how the namespace reaches out.
    PerVm(Uplink),
}

/// How a per-VM namespace is wired to the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    /// Nowhere: a tap device holding 192.0.2.1/24 (TEST-NET-1, RFC 5737) and a default route to
    /// a gateway that does not exist. passt starts (it refuses to without a default-route
    /// interface) and the guest reaches nothing but passt itself; no packet leaves the
    /// namespace. What tests use, and a safe default for jobs that need no network.
    Blackhole,
    /// To the WAN and nothing of the host (brief §4): a veth pair from the VM's namespace to the
    /// executor's, with NAT there. Inside the VM's namespace `ip rule`s prohibit every private,
    /// loopback, link-local (169.254.169.254 included), CGNAT, multicast and reserved IPv4 range
    /// and every address the host held when the VM started; IPv6 is off. On the host side an
    /// nftables table (`inet solstice_vm`) rejects whatever comes from a VM's veth for the host
    /// itself, drops what it would forward to those ranges, to another VM or over IPv6, and
    /// masquerades the rest; `net.ipv4.ip_forward` is turned on. Needs `nft` (Debian
    /// `nftables`). The guest's DNS server is a relay on the host side of its veth (UDP and
    /// TCP port 53, the one opening), which passes queries on to the resolvers of the
    /// executor's `/etc/resolv.conf`, loopback ones included. The details are in
    /// `network/routed.rs` and `network/dns.rs`.
    Routed,
}

/// The port passt forwards to the guest's SSH inside a per-VM namespace: nothing else can be
/// listening there.
const NAMESPACE_SSH_PORT: u16 = 2222;

/// How long passt may take to create its socket.
const PASST_START: Duration = Duration::from_secs(10);

/// A running passt and how to reach the guest's SSH through it.
#[derive(Debug)]
pub(crate) struct Network {
    pub(crate) passt: Child,
    pub(crate) socket: PathBuf,
    ssh: SocketAddr,
    netns: Option<Netns>,
    log: PathBuf,
    /// A routed VM's DNS relay, stopped with the VM.
    _dns: Option<dns::DnsRelay>,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("create the VM's network namespace")]
    Namespace(#[source] std::io::Error),
    #[error("set up the VM's network namespace")]
    Uplink(#[source] ToolError),
    #[error("set {name}")]
    Sysctl {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("start the VM's DNS relay")]
    Dns(#[source] std::io::Error),
    #[error("find a free port on 127.0.0.1")]
    Port(#[source] std::io::Error),
    #[error("prepare passt's socket directory {dir}")]
    SocketDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("start passt")]
    Spawn(#[source] std::io::Error),
    #[error("passt did not create its socket {socket}: {why}; it said: {said}")]
    NoSocket { socket: PathBuf, why: String, said: String },
}

impl Network {
    /// Starts passt for one VM, its socket and log under `dir`.
    pub(crate) async fn start(mode: &NetworkMode, tools: &Tools, dir: &Path) -> Result<Network, NetworkError> {
        let (netns, port, dns) = match mode {
            NetworkMode::Shared => (None, free_loopback_port().map_err(NetworkError::Port)?, None),
            NetworkMode::PerVm(uplink) => {
                let netns = Netns::create().await.map_err(NetworkError::Namespace)?;
                let dns = match uplink {
                    Uplink::Blackhole => {
                        blackhole(&netns, tools).await.map_err(NetworkError::Uplink)?;
                        None
                    }
                    Uplink::Routed => Some(routed::wire(&netns, tools).await?),
                };
                (Some(netns), NAMESPACE_SSH_PORT, dns)
            }
        };
        let socket_dir = dir.join("net");
        make_socket_dir(&socket_dir).map_err(|source| NetworkError::SocketDir { dir: socket_dir.clone(), source })?;
        let socket = socket_dir.join("passt.sock");
        let log = dir.join("passt.log");
        let log_file = std::fs::File::create(&log).map_err(NetworkError::Spawn)?;
        let mut command = confined(&tools.passt, netns.as_ref());
        // -f -1: foreground, and exit when QEMU disconnects (or never connects). The forward
        // listens on 127.0.0.1 only. passt logs to stderr (its -l file is opened after it gave
        // up its rights, which fails), so stderr goes to a file of ours.
        command
            .args(["-f", "-1", "--no-map-gw", "-t"])
            .arg(format!("127.0.0.1/{port}:22"))
            .arg("-s")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(log_file);
        match mode {
            // The host's DNS server is not reachable from a blackhole: do not offer it.
            NetworkMode::PerVm(Uplink::Blackhole) => {
                command.arg("--no-dhcp-dns");
            }
            // The VM's namespace has IPv6 off; passt need not look for it. The guest's one DNS
            // server is the relay on the host side of its veth.
            NetworkMode::PerVm(Uplink::Routed) => {
                command.arg("-4");
                if let Some((address, _)) = &dns {
                    command.arg("--dns").arg(address.to_string());
                }
            }
            NetworkMode::Shared => {}
        }
        let passt = command.spawn().map_err(NetworkError::Spawn)?;
        let ssh = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut network = Network { passt, socket, ssh, netns, log, _dns: dns.map(|(_, relay)| relay) };
        network.wait_for_socket().await?;
        Ok(network)
    }

    /// The namespace QEMU should run in, if any.
    pub(crate) fn netns(&self) -> Option<&Netns> {
        self.netns.as_ref()
    }

    /// A TCP connection to the guest's SSH port through passt's forward.
    pub(crate) async fn connect_ssh(&self, timeout: Duration) -> std::io::Result<TcpStream> {
        match &self.netns {
            Some(netns) => netns.connect(self.ssh, timeout).await,
            None => tokio::time::timeout(timeout, TcpStream::connect(self.ssh))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?,
        }
    }

    /// What passt said, for error texts.
    pub(crate) fn said(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        // Without a syslog, passt prints "Failed to send N bytes to syslog" before each line.
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("Failed to send ")).collect();
        lines.join(" | ")
    }

    async fn wait_for_socket(&mut self) -> Result<(), NetworkError> {
        let deadline = Instant::now() + PASST_START;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if self.socket.exists() {
                return Ok(());
            }
            let why = match self.passt.try_wait() {
                Ok(Some(status)) => format!("it exited ({})", describe(status)),
                Ok(None) if Instant::now() >= deadline => format!("not within {} s", PASST_START.as_secs()),
                Ok(None) => continue,
                Err(error) => format!("waiting for it failed ({error})"),
            };
            return Err(NetworkError::NoSocket { socket: self.socket.clone(), why, said: self.said() });
        }
    }
}

/// A port that was free on 127.0.0.1 a moment ago. passt binds it right after; in the unlikely
/// case someone else took it in between, SSH fails and the boot is retried on a fresh port.
fn free_loopback_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// passt started as root drops to `nobody` before it creates its socket: the directory must be
/// writable by that user (and the job dir above it traversable, see `Vm`).
fn make_socket_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir(dir)?;
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let nobody = nobody_ids().ok_or_else(|| std::io::Error::other("no user `nobody` in /etc/passwd"))?;
        std::os::unix::fs::chown(dir, Some(nobody.0), Some(nobody.1))?;
    }
    Ok(())
}

/// The uid and gid of `nobody`, from /etc/passwd.
#[cfg(unix)]
fn nobody_ids() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["nobody", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// Wires a fresh namespace to nowhere (see [`Uplink::Blackhole`]).
async fn blackhole(netns: &Netns, tools: &Tools) -> Result<(), ToolError> {
    let script = "link set lo up\n\
                  tuntap add dev soltap0 mode tap\n\
                  addr add 192.0.2.1/24 dev soltap0\n\
                  link set soltap0 up\n\
                  route add default via 192.0.2.254 dev soltap0 onlink\n";
    let mut command = confined(&tools.ip, Some(netns));
    command.args(["-batch", "-"]);
    run_script(command, "ip -batch", script).await.map(drop)
}

/// Runs `command` with `script` on its stdin; its stdout on success, its stderr in the error.
async fn run_script(mut command: tokio::process::Command, what: &str, script: &str) -> Result<String, ToolError> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let program = command.as_std().get_program().to_string_lossy().into_owned();
    let mut child = command.spawn().map_err(|source| ToolError::Spawn { program: program.clone(), source })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|source| ToolError::Spawn { program: program.clone(), source })?;
    }
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .map_err(|_| ToolError::Timeout { what: what.to_owned(), secs: 10 })?
        .map_err(|source| ToolError::Spawn { program, source })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(ToolError::Failed {
            what: what.to_owned(),
            status: describe(output.status),
            output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
