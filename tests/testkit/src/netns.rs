//! A network namespace of the test's own, holding only `lo` and a tap device with a TEST-NET-1
//! address and a default route to a gateway that does not exist: whatever a VM or a process in
//! it does, no packet leaves this machine. Needs root (CAP_SYS_ADMIN) and `ip` (iproute2).
//!
//! Two ways in. [`run_in_fresh`] runs a whole test on a thread that entered a fresh namespace,
//! so every process it spawns is inside. [`TestNetns`] keeps the test in the host's namespace
//! and starts chosen processes inside one, with listeners bound there for proxies back to the
//! host's servers. [`shell_prefix`] does the same for a binary run under `unshare -n`.

use std::ffi::OsStr;
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// The namespace's own address, on its tap device.
pub const TAP_ADDRESS: &str = "192.0.2.1";

/// The `ip -batch` commands that wire a fresh namespace.
pub const SETUP: &str = "link set lo up\n\
                         tuntap add dev testtap0 mode tap\n\
                         addr add 192.0.2.1/24 dev testtap0\n\
                         link set testtap0 up\n\
                         route add default via 192.0.2.254 dev testtap0 onlink\n";

/// Runs `test` on a fresh thread inside a network namespace made for it, on a current-thread
/// runtime so every child process is spawned from that thread; a panic in it is the caller's.
/// Tracing goes to the test's output, filtered by `RUST_LOG`.
pub fn run_in_fresh<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let thread = std::thread::spawn(move || {
        // SAFETY: unshare affects only this thread (and what it spawns), which ends with the test.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            panic!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
        }
        ip_batch(Command::new("ip"), SETUP);
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("build a runtime");
        runtime.block_on(test());
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// `sh -c` arguments that wire the namespace `unshare -n` made and then become "$@": run as
/// `unshare -n -- sh -c <prefix> sh <program> <args…>`.
pub fn shell_prefix() -> String {
    let lines: Vec<String> = SETUP.lines().map(|line| format!("'{line}'")).collect();
    format!("printf '%s\\n' {} | ip -batch - && exec \"$@\"", lines.join(" "))
}

/// A namespace held by a descriptor: it goes when that and the last process in it are gone.
pub struct TestNetns {
    fd: OwnedFd,
}

impl TestNetns {
    /// A fresh namespace, wired by [`SETUP`] and then `extra` (more `ip -batch` commands, e.g.
    /// addresses).
    pub fn create(extra: &str) -> TestNetns {
        let script = format!("{SETUP}{extra}");
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
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
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
        let fd = self.fd.try_clone().expect("duplicate the namespace's descriptor");
        std::thread::spawn(move || {
            // SAFETY: setns affects only this thread, which ends right after.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == -1 {
                panic!("setns: {}", std::io::Error::last_os_error());
            }
            std::net::TcpListener::bind(addr).expect("bind in the test's network namespace")
        })
        .join()
        .expect("bind in the test's network namespace")
    }
}

fn ip_batch(mut command: Command, script: &str) {
    let mut ip = command.args(["-batch", "-"]).stdin(Stdio::piped()).spawn().expect("ip (iproute2) is installed");
    if let Some(mut stdin) = ip.stdin.take() {
        stdin.write_all(script.as_bytes()).expect("write to ip -batch");
    }
    assert!(ip.wait().expect("wait for ip -batch").success(), "ip -batch failed on:\n{script}");
}
