//! The distributed set-up of brief §3.5 for `rss` (P6) and `fleet` (P7): a RabbitMQ vhost and a
//! PostgreSQL database of the bench's own (both removed when the bench ends), and `orchestrator`
//! daemons with the local executor started against them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The label the bench's jobs are routed by; no catalog knows it, which the local executor
/// does not mind.
pub const LABEL: &str = "bench";

/// A vhost and a database named `solstice-bench-<ulid>` / `solstice_bench_<ulid>`.
pub struct Infra {
    vhost: String,
    database: String,
}

impl Infra {
    pub fn create() -> Result<Infra> {
        let suffix = ulid::Ulid::new().to_string().to_lowercase();
        let infra = Infra { vhost: format!("solstice-bench-{suffix}"), database: format!("solstice_bench_{suffix}") };
        rabbitmqctl(&["add_vhost", &infra.vhost])?;
        rabbitmqctl(&["set_permissions", "-p", &infra.vhost, "guest", ".*", ".*", ".*"])?;
        psql(&format!("CREATE DATABASE {}", infra.database))?;
        Ok(infra)
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.vhost)
    }

    pub fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.database)
    }
}

impl Drop for Infra {
    fn drop(&mut self) {
        if let Err(error) = rabbitmqctl(&["delete_vhost", &self.vhost]) {
            eprintln!("bench: could not delete vhost {}: {error:#}", self.vhost);
        }
        if let Err(error) = psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database)) {
            eprintln!("bench: could not drop database {}: {error:#}", self.database);
        }
    }
}

fn rabbitmqctl(args: &[&str]) -> Result<()> {
    crate::run(Command::new("rabbitmqctl").arg("-q").args(args))
}

fn psql(sql: &str) -> Result<()> {
    crate::run(Command::new("psql").args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql]))
}

/// One `orchestrator` process; killed when dropped.
pub struct Daemon {
    child: Child,
    _state: tempfile::TempDir,
}

impl Daemon {
    /// Starts `orchestrator --executor local` on [`LABEL`] and waits (up to `timeout`) for its
    /// "serving jobs" line.
    pub fn start(binary: &Path, infra: &Infra, bus_key: &str, capacity: u32, timeout: Duration) -> Result<Daemon> {
        let state = tempfile::tempdir()?;
        let mut child = Command::new(binary)
            .args(["--executor", "local", "--labels", LABEL, "--capacity", &capacity.to_string()])
            .env("SOLSTICE_AMQP_URL", infra.amqp_url())
            .env("SOLSTICE_DATABASE_URL", infra.database_url())
            .env("SOLSTICE_BUS_KEY", bus_key)
            .env("SOLSTICE_STATE_DIR", state.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (ready_tx, ready) = mpsc::channel();
        // The daemon's log is read to the end so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            let mut tail = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("\"serving jobs\"")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(Ok(()));
                }
                if ready_tx.is_some() {
                    tail.push(line);
                }
            }
            if let Some(tx) = ready_tx {
                let _ = tx.send(Err(tail.join("\n")));
            }
        });
        let mut daemon = Daemon { child, _state: state };
        match ready.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(daemon),
            Ok(Err(log)) => bail!("the orchestrator exited before serving: {log}"),
            Err(_) => {
                let _ = daemon.child.kill();
                bail!("the orchestrator did not serve within {} s", timeout.as_secs())
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's memory from `/proc/<pid>/status`, sizes in kB.
pub struct Memory {
    pub rss: u64,
    pub hwm: u64,
    /// What the process allocated (heap, stacks).
    pub anon: u64,
    /// Mapped code and data, shared and reclaimable.
    pub file: u64,
    pub threads: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Memory {
            rss: field("VmRSS:")?,
            hwm: field("VmHWM:")?,
            anon: field("RssAnon:")?,
            file: field("RssFile:")?,
            threads: field("Threads:")?,
        })
    }

    /// Idle means its memory no longer changes: sampled once a second for `settle`, the last
    /// sample printed under `title`.
    pub fn settled(pid: u32, settle: Duration, title: &str) -> Result<()> {
        let started = Instant::now();
        let mut last = Memory::of(pid)?;
        while started.elapsed() < settle {
            std::thread::sleep(Duration::from_secs(1));
            last = Memory::of(pid)?;
        }
        let mib = |kb: u64| kb as f64 / 1024.0;
        println!("{title} (MiB here):");
        println!(
            "  VmRSS {:.1} MiB (anonymous {:.1}, file-backed {:.1})  VmHWM {:.1} MiB  threads {}",
            mib(last.rss),
            mib(last.anon),
            mib(last.file),
            mib(last.hwm),
            last.threads
        );
        Ok(())
    }
}

/// The `orchestrator` beside this binary unless named.
pub fn orchestrator_binary(named: Option<&PathBuf>) -> Result<PathBuf> {
    match named {
        Some(path) => Ok(path.clone()),
        None => Ok(std::env::current_exe()?.with_file_name("orchestrator")),
    }
}

/// P6: the orchestrator's resident memory once it serves and has nothing to do.
pub fn rss(binary: &Path, settle: Duration) -> Result<()> {
    let infra = Infra::create()?;
    let key = contract::BusKey::generate().context("make a bus key")?;
    let daemon = Daemon::start(binary, &infra, key.to_base64().expose(), 1, Duration::from_secs(60))?;
    let title = format!(
        "P6 orchestrator idle RSS (local executor, RabbitMQ + PostgreSQL, {} s after serving), target <= 30 MB",
        settle.as_secs()
    );
    Memory::settled(daemon.pid(), settle, &title)
}
