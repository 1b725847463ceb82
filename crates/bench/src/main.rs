//! `bench`: measures what docs/performance.md reports against the targets of brief §7 and prints
//! the figures. Not a test: it asserts nothing, and every measurement is bounded in time.
//!
//! - `disk` (P5): a qcow2 overlay on a sparse 1 GB and 20 GB base, as the qemu executor makes one
//!   per job (`qemu-img create -f qcow2 -F <fmt> -b BASE OVERLAY`), N times each: p50 and max.
//! - `local`: `solstice run --executor local` of a one-step job, N times: wall time p50 and max.
//! - `throughput` (P4): a step printing `--lines` numbered 100-byte lines through the local
//!   executor; lines/s and MB/s as `solstice run` prints them, every line checked in order
//!   (zero loss), against the same generator read straight through a pipe (the raw rate).
//! - `boot` (P2, root only): `solstice run --executor qemu` of a one-step job on `linux-test`
//!   under TCG, from the process start to the step's first line, against a bare QEMU boot of the
//!   same image (same kernel, machine, accelerator and memory) timed by
//!   `images/check-test-image.sh` from QEMU's start to the ready marker. Both run in network
//!   namespaces of their own that lead nowhere (no packet leaves this machine).
//! - `channel` (P4 through a VM, P2's agent upload; root only): see `channel.rs`.
//! - `rss` (P6): an `orchestrator` daemon (local executor) on a RabbitMQ vhost and a PostgreSQL
//!   database of the bench's own, its `VmRSS` once it serves and has settled; then
//!   `forgejo-runner` and `github-runner`, each polling its fake forge on 127.0.0.1 (see
//!   `runners.rs`), theirs.
//! - `fleet` (P7): `--jobs` trivial jobs published on that vhost, served by two such daemons;
//!   the time from the first publish to the last `job_finished`, jobs lost and duplicated.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

mod burst;
mod channel;
mod fleet;
mod request;
mod runners;

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Print Solstice CI's performance figures (docs/performance.md)")]
struct Args {
    /// What to measure; all of it by default.
    #[arg(value_enum)]
    only: Vec<Measure>,
    /// Repetitions for `disk` and `local`.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Lines the `throughput` step prints (100 bytes each: 2,000,000 is 200 MB).
    #[arg(long, default_value_t = 2_000_000)]
    lines: u64,
    /// The `solstice` binary; default: beside this one.
    #[arg(long)]
    solstice: Option<PathBuf>,
    /// Lines the `channel` step prints in the VM (100 bytes each).
    #[arg(long, default_value_t = 2_000_000)]
    vm_lines: u64,
    /// Repetitions for `boot` (each boots two VMs).
    #[arg(long, default_value_t = 3)]
    boot_runs: usize,
    /// Give up on one `solstice run` (or on the `fleet` burst) after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// The `orchestrator` binary for `rss` and `fleet`; default: beside this one.
    #[arg(long)]
    orchestrator: Option<PathBuf>,
    /// How long `rss` lets the idle daemon settle before reading its memory.
    #[arg(long, default_value_t = 10)]
    settle_secs: u64,
    /// Jobs `fleet` publishes.
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    /// Orchestrator daemons `fleet` starts.
    #[arg(long, default_value_t = 2)]
    orchestrators: usize,
    /// Jobs each `fleet` daemon runs at once.
    #[arg(long, default_value_t = 8)]
    capacity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Measure {
    Disk,
    Local,
    Throughput,
    Boot,
    Channel,
    Rss,
    Fleet,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let all = args.only.is_empty();
    let wants = |m: Measure| all || args.only.contains(&m);
    let solstice = match &args.solstice {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("solstice"),
    };
    if wants(Measure::Disk) {
        disk(args.runs)?;
    }
    if wants(Measure::Local) {
        local(&solstice, args.runs.min(10), Duration::from_secs(args.timeout_secs))?;
    }
    if wants(Measure::Throughput) {
        throughput(&solstice, args.lines, Duration::from_secs(args.timeout_secs))?;
    }
    if wants(Measure::Boot) {
        boot(&solstice, args.boot_runs, Duration::from_secs(args.timeout_secs))?;
    }
    if wants(Measure::Channel) {
        let agent = std::env::current_exe()?.with_file_name("workflow-runner");
        channel::channel(&agent, &solstice, args.vm_lines, Duration::from_secs(args.timeout_secs))?;
    }
    let orchestrator = fleet::orchestrator_binary(args.orchestrator.as_ref())?;
    if wants(Measure::Rss) {
        fleet::rss(&orchestrator, Duration::from_secs(args.settle_secs))?;
        let (forgejo_runner, github_runner) = runners::binaries()?;
        runners::rss(&forgejo_runner, &github_runner, Duration::from_secs(args.settle_secs))?;
    }
    if wants(Measure::Fleet) {
        let config = burst::BurstConfig {
            jobs: args.jobs,
            orchestrators: args.orchestrators,
            capacity: args.capacity,
            timeout: Duration::from_secs(args.timeout_secs),
            linger: Duration::from_secs(3),
        };
        burst::burst(&orchestrator, &config)?;
    }
    Ok(())
}

/// P5: per-job disk preparation.
fn disk(runs: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    println!("P5 per-job disk (qcow2 overlay), {runs} runs each, target <= 50 ms");
    for format in ["qcow2", "raw"] {
        for size in ["1G", "20G"] {
            let base = dir.path().join(format!("base-{size}.{format}"));
            run(Command::new("qemu-img").args(["create", "-q", "-f", format]).arg(&base).arg(size))?;
            let mut times = Vec::with_capacity(runs);
            for i in 0..runs {
                let overlay = dir.path().join(format!("overlay-{format}-{size}-{i}.qcow2"));
                let started = Instant::now();
                run(Command::new("qemu-img")
                    .args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
                    .arg(&base)
                    .arg(&overlay))?;
                times.push(started.elapsed());
            }
            let (p50, max) = p50_max(&mut times);
            println!("  {size:>3} {format:<5} base: p50 {:6.1} ms  max {:6.1} ms", ms(p50), ms(max));
        }
    }
    Ok(())
}

/// The wall time of a trivial job through the local executor.
fn local(solstice: &Path, runs: usize, timeout: Duration) -> Result<()> {
    let project = Project::new("      - run: 'true'\n")?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let result = project.run(solstice, timeout, |_| {})?;
        if !result.success {
            bail!("the trivial job failed: {}", result.stderr);
        }
        times.push(started.elapsed());
    }
    let (p50, max) = p50_max(&mut times);
    println!(
        "solstice run --executor local, one trivial job, {runs} runs: p50 {:.0} ms  max {:.0} ms",
        ms(p50),
        ms(max)
    );
    Ok(())
}

/// P4: step output delivered with zero loss, against the raw rate of the same generator.
fn throughput(solstice: &Path, lines: u64, timeout: Duration) -> Result<()> {
    let bytes = lines as f64 * 100.0;
    let generator = generator(lines);

    let started = Instant::now();
    let mut raw = Command::new("sh").args(["-c", &generator]).stdout(Stdio::piped()).spawn()?;
    let mut check = Sequence::default();
    for line in BufReader::new(raw.stdout.take().context("no stdout")?).lines() {
        check.line(&line?);
    }
    raw.wait()?;
    let raw_secs = started.elapsed().as_secs_f64();
    check.finish(lines).context("the raw generator")?;

    let project = Project::new(&format!("      - run: {generator}\n"))?;
    let mut seen = TimedLines::default();
    let result = project.run(solstice, timeout, |line| seen.see(line))?;
    if !result.success {
        bail!("the throughput job failed: {}", result.stderr);
    }
    let secs = seen.finish(lines).context("solstice run --executor local")?;
    println!("P4 step output through the local executor, {lines} lines of 100 bytes ({:.0} MB):", bytes / 1e6);
    println!("  raw pipe:        {:9.0} lines/s {:7.1} MB/s", lines as f64 / raw_secs, bytes / raw_secs / 1e6);
    println!(
        "  solstice run:    {:9.0} lines/s {:7.1} MB/s  ({:.2} of raw; zero loss, in order; job wall {:.1} s)",
        lines as f64 / secs,
        bytes / secs / 1e6,
        raw_secs / secs,
        result.wall.as_secs_f64()
    );
    Ok(())
}

/// Wires the namespace `unshare -n` made (a tap with a TEST-NET-1 address and a default route to
/// a gateway that does not exist), then becomes "$@".
const NETNS_SCRIPT: &str = r#"printf '%s\n' 'link set lo up' 'tuntap add dev benchtap0 mode tap' \
    'addr add 192.0.2.1/24 dev benchtap0' 'link set benchtap0 up' \
    'route add default via 192.0.2.254 dev benchtap0 onlink' | ip -batch - && exec "$@""#;

/// P2: job start to the first step line, against a bare boot of the same image.
fn boot(solstice: &Path, runs: usize, timeout: Duration) -> Result<()> {
    let check = Path::new("images/check-test-image.sh");
    if !check.is_file() {
        bail!("run bench from the source tree: {} is not here", check.display());
    }
    let project = Project::new("      - run: echo first\n")?;
    // Besides the two figures P2 compares, where the time goes: the bare boot's first SSH
    // answer, and the job's `vm ready` line (SSH logged in with the job's key).
    let (mut bare, mut bare_ssh, mut job, mut job_ready) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let output = Command::new(check).env("SOLSTICE_CHECK_TIMEOUT", timeout.as_secs().to_string()).output()?;
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        let timed = |prefix: &str| {
            said.lines()
                .find_map(|line| line.trim().strip_prefix(prefix))
                .and_then(|rest| rest.trim().trim_end_matches('s').trim().parse::<f64>().ok())
                .map(Duration::from_secs_f64)
        };
        match (timed("QEMU start -> SOLSTICE-READY on serial"), timed("QEMU start -> SSH answered (hostname)")) {
            (Some(marker), Some(ssh)) if output.status.success() => {
                bare.push(marker);
                bare_ssh.push(ssh);
            }
            _ => bail!("images/check-test-image.sh failed: {said}"),
        }
        let started = Instant::now();
        let mut first: Option<Duration> = None;
        let mut ready: Option<Duration> = None;
        let mut command = Command::new("unshare");
        command.args(["-n", "--", "sh", "-c", NETNS_SCRIPT, "sh"]).arg(solstice);
        command.args(["run", "--executor", "qemu"]).env("SOLSTICE_ACCEL", "tcg");
        let result = project.run_command(command, timeout, |line| {
            if line.starts_with("[t] vm ready ") {
                ready.get_or_insert_with(|| started.elapsed());
            }
            if line == "[t] === Run echo first" {
                first.get_or_insert_with(|| started.elapsed());
            }
        })?;
        match (first, ready) {
            (Some(first), Some(ready)) if result.success => {
                job.push(first);
                job_ready.push(ready);
            }
            _ => bail!("the qemu job failed: {}", result.stderr),
        }
    }
    let (bare_p50, bare_max) = p50_max(&mut bare);
    let (bare_ssh_p50, bare_ssh_max) = p50_max(&mut bare_ssh);
    let (job_p50, job_max) = p50_max(&mut job);
    let (ready_p50, ready_max) = p50_max(&mut job_ready);
    let secs = |d: Duration| d.as_secs_f64();
    println!("P2 linux-test under TCG, {runs} runs each, target job <= 1.3 x bare:");
    println!("  bare QEMU start -> ready marker:          p50 {:5.1} s  max {:5.1} s", secs(bare_p50), secs(bare_max));
    println!(
        "  solstice run start -> first step line:    p50 {:5.1} s  max {:5.1} s  ({:.2} x bare at p50)",
        secs(job_p50),
        secs(job_max),
        secs(job_p50) / secs(bare_p50)
    );
    println!(
        "  where it goes: bare QEMU start -> SSH answered p50 {:5.1} s (max {:5.1}); job start -> vm ready p50 {:5.1} s (max {:5.1})",
        secs(bare_ssh_p50),
        secs(bare_ssh_max),
        secs(ready_p50),
        secs(ready_max)
    );
    Ok(())
}

/// A shell command printing `lines` lines: a 9-digit number, a space and 89 `x`, 100 bytes each.
fn generator(lines: u64) -> String {
    format!(
        "awk 'BEGIN {{ p = sprintf(\"%89s\", \"\"); gsub(/ /, \"x\", p); for (i = 1; i <= {lines}; i++) printf \"%09d %s\\n\", i, p }}'"
    )
}

/// Checks that numbered lines arrive complete, unaltered and in order.
#[derive(Default)]
struct Sequence {
    next: u64,
    bad: u64,
}

impl Sequence {
    fn line(&mut self, text: &str) {
        self.next += 1;
        let intact = text.len() == 99
            && text.get(..9).and_then(|n| n.parse::<u64>().ok()) == Some(self.next)
            && text.as_bytes()[9] == b' '
            && text.as_bytes()[10..].iter().all(|&b| b == b'x');
        if !intact {
            self.bad += 1;
        }
    }

    fn finish(&self, expected: u64) -> Result<()> {
        if self.next != expected || self.bad != 0 {
            bail!("lost or reordered output: {} lines seen of {expected}, {} out of place", self.next, self.bad);
        }
        Ok(())
    }
}

/// The generator's lines in `solstice run`'s output (`[t] ` and 99 bytes), checked for order
/// and timed from the first to the last.
#[derive(Default)]
struct TimedLines {
    check: Sequence,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl TimedLines {
    fn see(&mut self, line: &str) {
        if let Some(text) = line.strip_prefix("[t] ")
            && text.len() == 99
            && text.as_bytes()[..9].iter().all(u8::is_ascii_digit)
        {
            let now = Instant::now();
            self.first.get_or_insert(now);
            self.last = Some(now);
            self.check.line(text);
        }
    }

    /// Seconds from the first line to the last, once all `expected` lines came in order.
    fn finish(&self, expected: u64) -> Result<f64> {
        self.check.finish(expected)?;
        Ok(match (self.first, self.last) {
            (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
            _ => f64::NAN,
        })
    }
}

/// A project directory outside any git tree with a one-job workflow.
struct Project {
    dir: tempfile::TempDir,
}

struct Finished {
    success: bool,
    wall: Duration,
    stderr: String,
}

impl Project {
    fn new(steps: &str) -> Result<Project> {
        let dir = tempfile::tempdir()?;
        let workflow = format!("on: push\njobs:\n  t:\n    runs-on: linux-test\n    steps:\n{steps}");
        std::fs::write(dir.path().join("workflow.yml"), workflow)?;
        Ok(Project { dir })
    }

    /// `solstice run --executor local workflow.yml`, each stdout line to `on_line`; killed
    /// after `timeout`.
    fn run(&self, solstice: &Path, timeout: Duration, on_line: impl FnMut(&str)) -> Result<Finished> {
        let mut command = Command::new(solstice);
        command.args(["run", "--executor", "local"]).env("SOLSTICE_STATE_DIR", self.dir.path().join("state"));
        self.run_command(command, timeout, on_line)
    }

    /// `command workflow.yml` in the project (`command` is a `solstice run` up to its flags).
    fn run_command(&self, mut command: Command, timeout: Duration, mut on_line: impl FnMut(&str)) -> Result<Finished> {
        let started = Instant::now();
        let mut child = command
            .arg("workflow.yml")
            .current_dir(self.dir.path())
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {command:?}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut stderr = child.stderr.take().context("no stderr")?;
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        // A watchdog kills the run at the deadline; the reader then sees EOF.
        let (done, finished) = mpsc::channel::<()>();
        let pid = child.id();
        let watchdog = std::thread::spawn(move || {
            if finished.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            }
        });
        for line in BufReader::new(stdout).lines() {
            on_line(&line?);
        }
        let status = child.wait()?;
        let _ = done.send(());
        let _ = watchdog.join();
        let wall = started.elapsed();
        let stderr = errors.join().unwrap_or_default();
        if wall >= timeout {
            bail!("solstice run did not finish within {} s", timeout.as_secs());
        }
        Ok(Finished { success: status.success(), wall, stderr })
    }
}

fn run(command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| format!("start {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn p50_max(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let p50 = times.get(times.len() / 2).copied().unwrap_or_default();
    let max = times.last().copied().unwrap_or_default();
    (p50, max)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
