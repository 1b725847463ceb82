//! A binary of the workspace running as a child of the test, its stderr (its log) in a file;
//! killed by its pid when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Child {
    process: std::process::Child,
    log: PathBuf,
    _logs: tempfile::TempDir,
}

impl Child {
    /// Starts `command` (made with [`clean`]), its stdout dropped and its stderr logged.
    pub fn start(mut command: Command, name: &str) -> Child {
        let logs = tempfile::tempdir().expect("make a log dir");
        let log = logs.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("make the log file");
        let process = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|error| panic!("start {name}: {error}"));
        Child { process, log, _logs: logs }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` to it by its pid.
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.process.id()).expect("a pid fits an i32");
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal child {pid}");
    }

    /// Its exit status once it exits by itself, or `None` if it still runs after `deadline`.
    /// A thread blocks in waitid(2) without reaping, so the wait is woken by the exit itself.
    #[allow(dead_code)] // the GitHub suite's; this file is shared with it
    pub fn exit_within(&mut self, deadline: std::time::Duration) -> Option<std::process::ExitStatus> {
        let pid = self.process.id();
        let (exited, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: an all-zero siginfo_t is a valid out-parameter for waitid(2).
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid(2) on our own child's pid; WNOWAIT leaves it for try_wait to reap.
            let waited = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
            let _ = exited.send(waited);
        });
        match wait.recv_timeout(deadline) {
            Ok(0) => self.process.try_wait().ok().flatten(),
            _ => None,
        }
    }

    /// SIGKILL, and reaps it.
    pub fn kill_9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.process.wait();
    }

    /// SIGKILL if it still runs (a stopped process dies of it too), and reaps it.
    pub fn kill(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `command` without the test's own `SOLSTICE_*` variables.
pub fn clean(mut command: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SOLSTICE_") {
            command.env_remove(name);
        }
    }
    command
}
