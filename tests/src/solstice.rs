//! Running the real `solstice` binary: where it is, and one run of it with a deadline.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What one run printed and returned.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// `None` when the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// The `solstice` binary of the profile this test was built with: the test executable lives in
/// `target/<profile>/deps/`, the binaries one level up. Cargo does not build other packages'
/// binaries for `cargo test -p e2e`, hence the hint.
pub fn binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the test executable: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("test executable {} is not in target/<profile>/deps", exe.display()))?;
    let binary = profile_dir.join("solstice");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("{} does not exist: run `cargo build --workspace --bins` first", binary.display()))
    }
}

/// How to run `solstice` once.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub binary: &'a Path,
    pub args: &'a [String],
    pub cwd: &'a Path,
    /// Set on top of the test's own environment.
    pub env: &'a [(String, String)],
    pub timeout: Duration,
}

/// Runs to completion, or kills the whole process group at the deadline and returns `Err` with
/// what was printed until then. Both pipes must also close by the deadline: a process that
/// `solstice` started and left behind keeps them open, and that is a failure too.
pub fn run(invocation: &Invocation<'_>) -> Result<RunOutput, String> {
    let started = Instant::now();
    let deadline = started + invocation.timeout;
    let mut command = Command::new(invocation.binary);
    command
        .args(invocation.args)
        .current_dir(invocation.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the deadline can kill everything it started.
        .process_group(0);
    for (name, _) in std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("SOLSTICE_")) {
        command.env_remove(name);
    }
    command.envs(invocation.env.iter().map(|(k, v)| (k, v)));

    let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", invocation.binary.display()))?;
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = collect(child.stdout.take(), done_tx.clone());
    let stderr = collect(child.stderr.take(), done_tx);
    let (exit_tx, exit_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });

    let remaining = || deadline.saturating_duration_since(Instant::now());
    let text = |buffer: &Arc<Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())).into_owned()
    };
    let so_far =
        |what: &str| format!("{what}\n--- stdout so far:\n{}\n--- stderr so far:\n{}", text(&stdout), text(&stderr));

    let status = match exit_rx.recv_timeout(remaining()) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(format!("waiting for solstice failed: {e}")),
        Err(_) => {
            kill_group(pid);
            return Err(so_far(&format!(
                "solstice did not finish within {:?}; killed its process group",
                invocation.timeout
            )));
        }
    };
    for _ in 0..2 {
        if done_rx.recv_timeout(remaining()).is_err() {
            kill_group(pid);
            return Err(so_far(&format!(
                "solstice exited ({status}) but its stdout/stderr stayed open until the deadline: \
                 a process it started is still running"
            )));
        }
    }
    Ok(RunOutput { code: status.code(), stdout: text(&stdout), stderr: text(&stderr), elapsed: started.elapsed() })
}

/// Reads a pipe to its end on a thread of its own, keeping what arrived so far readable.
fn collect(pipe: Option<impl Read + Send + 'static>, done: mpsc::Sender<()>) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&buffer);
    thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(&chunk[..n]);
            }
        }
        let _ = done.send(());
    });
    buffer
}

fn kill_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill(2) with a negative pid signals the process group we created for this child;
    // it touches no memory of ours.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Result<RunOutput, String> {
        let args = ["-c".to_owned(), script.to_owned()];
        let env = [("E2E_PROBE".to_owned(), "probe value".to_owned())];
        run(&Invocation { binary: Path::new("/bin/sh"), args: &args, cwd: Path::new("/"), env: &env, timeout })
    }

    #[test]
    fn captures_exit_code_stdout_and_stderr() {
        let output = sh("echo out; echo \"$E2E_PROBE\" >&2; pwd; exit 3", Duration::from_secs(30)).unwrap();
        assert_eq!(output.code, Some(3));
        assert_eq!(output.stdout, "out\n/\n");
        assert_eq!(output.stderr, "probe value\n");
    }

    #[test]
    fn kills_a_run_past_its_deadline_and_keeps_what_it_printed() {
        let e = sh("echo started; exec sleep 60", Duration::from_millis(500)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        assert!(e.contains("started"), "{e}");
    }

    #[test]
    fn a_left_behind_process_holding_stdout_is_a_failure() {
        let e = sh("sleep 60 & echo bye", Duration::from_millis(500)).unwrap_err();
        assert!(e.contains("stayed open"), "{e}");
        assert!(e.contains("bye"), "{e}");
    }
}
