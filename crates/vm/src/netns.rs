//! A network namespace of one VM (Linux). It is held by a file descriptor only: no name under
//! `/run/netns`, nothing to clean up after a crash — the kernel frees it when the descriptor and
//! the last process in it (passt, QEMU) are gone.
//!
//! How the pieces get in: a short-lived thread `unshare`s a fresh namespace and opens
//! `/proc/thread-self/ns/net`; children join it with `setns` between fork and exec; a TCP
//! connection into it is opened by another short-lived thread that `setns`es first, and the socket
//! stays in that namespace after the thread is gone. Threads that changed namespace always end:
//! no pooled thread is ever left in a VM's namespace.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::Command;

#[cfg(target_os = "linux")]
pub(crate) use linux::Netns;

#[cfg(not(target_os = "linux"))]
pub(crate) use other::Netns;

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::os::fd::{AsRawFd, OwnedFd};

    use super::*;

    #[derive(Debug)]
    pub(crate) struct Netns {
        fd: OwnedFd,
    }

    impl Netns {
        /// A fresh, empty namespace (only a `lo` that is down). Needs CAP_SYS_ADMIN.
        pub(crate) async fn create() -> std::io::Result<Netns> {
            run_on_fresh_thread(|| {
                // SAFETY: unshare affects only this thread, which ends right after.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                let file = File::open("/proc/thread-self/ns/net")?;
                Ok(Netns { fd: OwnedFd::from(file) })
            })
            .await
        }

        /// Makes `command`'s process join this namespace before it execs.
        pub(crate) fn enter_on_exec(&self, command: &mut Command) {
            let fd = self.fd.as_raw_fd();
            // SAFETY: setns is async-signal-safe; `fd` stays open in the parent for as long as
            // `self` lives, which outlives the spawn call, and fork duplicates it into the child.
            unsafe {
                command.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }

        /// A path naming this namespace for other processes (`ip link … netns PATH`), valid while
        /// `self` lives.
        pub(crate) fn path(&self) -> std::path::PathBuf {
            format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd()).into()
        }

        /// Writes `value` to a per-namespace file under `/proc/sys/net`, as seen from inside.
        pub(crate) async fn write_sysctl(&self, name: &'static str, value: &'static str) -> std::io::Result<()> {
            let fd = self.fd.try_clone()?;
            run_on_fresh_thread(move || {
                // SAFETY: setns affects only this thread, which ends right after.
                if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                std::fs::write(name, value)
            })
            .await
        }

        /// A TCP connection to `addr` as seen from inside the namespace.
        pub(crate) async fn connect(&self, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
            let fd = self.fd.try_clone()?;
            let stream = run_on_fresh_thread(move || {
                // SAFETY: setns affects only this thread, which ends right after.
                if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                let stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
                stream.set_nonblocking(true)?;
                Ok(stream)
            })
            .await?;
            TcpStream::from_std(stream)
        }
    }

    /// Runs `work` on a new thread that ends with it, without blocking the async runtime.
    async fn run_on_fresh_thread<T: Send + 'static>(
        work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new().name("solstice-netns".into()).spawn(move || {
            let _ = tx.send(work());
        })?;
        rx.await.map_err(|_| std::io::Error::other("the namespace thread panicked"))?
    }
}

#[cfg(not(target_os = "linux"))]
mod other {
    use super::*;

    /// Network namespaces are Linux's; elsewhere only the shared network mode exists.
    #[derive(Debug)]
    pub(crate) struct Netns(());

    impl Netns {
        pub(crate) async fn create() -> std::io::Result<Netns> {
            Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "network namespaces exist on Linux only"))
        }

        pub(crate) fn enter_on_exec(&self, _command: &mut Command) {}

        pub(crate) fn path(&self) -> std::path::PathBuf {
            std::path::PathBuf::new()
        }

        pub(crate) async fn write_sysctl(&self, _name: &'static str, _value: &'static str) -> std::io::Result<()> {
            Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "network namespaces exist on Linux only"))
        }

        pub(crate) async fn connect(&self, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
            tokio::time::timeout(timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
        }
    }
}
