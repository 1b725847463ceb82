//! A network namespace of the test's own, where the daemon under test runs with its VMs.
//!
//! The same discipline as the vm crate's tests (`crates/vm/tests/it/main.rs`, whose idea this
//! repeats rather than shares, that crate's test support being its own): the namespace holds
//! only `lo` and a tap device with a TEST-NET-1 address and a default route to a gateway that
//! does not exist, so nothing a VM does can leave this machine. Unlike there, the test itself
//! stays in the host's namespace (it reaches RabbitMQ and PostgreSQL directly); the daemon is
//! started inside the namespace and reaches them through proxies whose listeners are bound in
//! it ([`TestNetns::bind`]). The namespace is held by a descriptor: it goes when that and the
//! last process in it are gone.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

pub struct TestNetns {
    fd: OwnedFd,
}

/// The namespace's own address, on its tap device.
pub const TAP_ADDRESS: &str = "192.0.2.1";

impl TestNetns {
    /// A fresh namespace, set up by `ip -batch` with the base script and then `extra` (more
    /// `ip` commands, e.g. addresses). Needs root.
    pub fn create(extra: &str) -> TestNetns {
        let script = format!(
            "link set lo up\n\
             tuntap add dev testtap0 mode tap\n\
             addr add {TAP_ADDRESS}/24 dev testtap0\n\
             link set testtap0 up\n\
             route add default via 192.0.2.254 dev testtap0 onlink\n\
             {extra}"
        );
        let made = std::thread::spawn(move || {
            // SAFETY: unshare affects only this thread, which ends right after.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                panic!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
            }
            // Spawned from this thread, so inside the namespace.
            ip_batch(Command::new("ip"), &script);
            OwnedFd::from(File::open("/proc/thread-self/ns/net").expect("open the namespace"))
        });
        TestNetns { fd: made.join().expect("the test's network namespace could not be made") }
    }

    /// `program`, to be started inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        let fd = self.fd.as_raw_fd();
        // SAFETY: setns is async-signal-safe; `fd` is open in the parent while `self` lives
        // (longer than the spawn) and fork copies it into the child.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
    }

    /// A listener bound to `addr` inside the namespace (the socket stays there whoever uses it).
    pub fn bind(&self, addr: SocketAddr) -> std::net::TcpListener {
        let fd = self.fd.try_clone().unwrap();
        std::thread::spawn(move || {
            // SAFETY: setns affects only this thread, which ends right after.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == -1 {
                panic!("setns: {}", std::io::Error::last_os_error());
            }
            std::net::TcpListener::bind(addr).unwrap()
        })
        .join()
        .expect("bind in the test's network namespace")
    }
}

fn ip_batch(mut command: Command, script: &str) {
    let mut ip = command.args(["-batch", "-"]).stdin(Stdio::piped()).spawn().expect("ip (iproute2) is installed");
    ip.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    assert!(ip.wait().unwrap().success(), "ip -batch failed on:\n{script}");
}
