//! `channel` (P4 through a VM, and P2's agent upload): one linux-test guest under TCG, booted by
//! `crates/bench/ssh-channel.sh`, and over SSH sessions to it
//! - the agent uploaded as built (`cat`) and stripped + gzip-compressed (`gzip -dc`), as the
//!   qemu executor now sends it;
//! - the generator's `--lines` lines read straight through the channel (the raw rate);
//! - the agent running a job whose one step runs the same generator, its stdout (the JSON
//!   events) read through the channel;
//! - then the whole product path: `solstice run --executor qemu` of that job in a VM of its own
//!   (russh, the executor's relay, the orchestrator and the printer on the host side).
//!
//! Every line of both streams is checked: count, order and content (zero loss).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use contract::{AgentEvent, ControlMessage, Event, JobResult, Section};

use crate::{NETNS_SCRIPT, Project, Sequence, TimedLines, generator};

pub fn channel(agent: &Path, solstice: &Path, lines: u64, timeout: Duration) -> Result<()> {
    let script = Path::new("crates/bench/ssh-channel.sh");
    if !script.is_file() {
        bail!("run bench from the source tree: {} is not here", script.display());
    }
    let imagedir = Path::new("/var/lib/solstice/images/linux-test");
    let dir = tempfile::tempdir()?;
    let packed = dir.path().join("workflow-runner.gz");
    pack(agent, &dir.path().join("workflow-runner.stripped"), &packed)?;

    let key = contract::BusKey::generate().context("make a bus key")?;
    let request = crate::request::one_job("linux-test", &format!("      - run: {}\n", generator(lines)), &key)?;
    let start = ControlMessage::Start { request: Box::new(request), bus_key: key.to_base64() };
    let start_file = dir.path().join("start.json");
    std::fs::write(&start_file, format!("{}\n", serde_json::to_string(&start)?))?;

    let output = Command::new(script)
        .arg(imagedir)
        .arg(agent)
        .arg(&packed)
        .arg(&start_file)
        .arg(generator(lines))
        .arg(dir.path())
        .output()
        .context("run crates/bench/ssh-channel.sh")?;
    if !output.status.success() {
        bail!("ssh-channel.sh failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let times = std::fs::read_to_string(dir.path().join("times"))?;
    let time = |name: &str| -> Result<f64> {
        times
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .with_context(|| format!("no {name} time in {times}"))
    };

    let mut raw = Sequence::default();
    for line in BufReader::new(std::fs::File::open(dir.path().join("raw.out"))?).lines() {
        raw.line(&line?);
    }
    raw.finish(lines).context("the raw stream")?;

    let mut events = Sequence::default();
    let mut result = None;
    let mut event_bytes = 0u64;
    let mut in_header = true;
    for line in BufReader::new(std::fs::File::open(dir.path().join("events.out"))?).lines() {
        let line = line?;
        event_bytes += line.len() as u64 + 1;
        let event: AgentEvent = serde_json::from_str(&line).with_context(|| format!("an agent line: {line}"))?;
        match event.event {
            Event::Log { section: Section::Step(0), lines, .. } => {
                for line in lines {
                    // The step's log opens with the engine's group: the script and its shell.
                    if in_header {
                        in_header = line != "##[endgroup]";
                    } else {
                        events.line(&line);
                    }
                }
            }
            Event::JobFinished { result: finished, .. } => result = Some(finished),
            _ => {}
        }
    }
    events.finish(lines).context("the step's output as events")?;
    if result != Some(JobResult::Success) {
        bail!("the job ended with {result:?}");
    }

    let bytes = lines as f64 * 100.0;
    let (plain, packed_secs) = (time("upload.plain")?, time("upload.packed")?);
    let (raw_secs, events_secs) = (time("raw")?, time("events")?);
    let agent_mb = std::fs::metadata(agent)?.len() as f64 / 1e6;
    let packed_mb = std::fs::metadata(&packed)?.len() as f64 / 1e6;
    println!("P2 agent upload over SSH into linux-test under TCG:");
    println!("  as built, into cat:                 {agent_mb:5.1} MB in {plain:5.2} s");
    println!("  stripped + gzip, into gzip -dc:     {packed_mb:5.1} MB in {packed_secs:5.2} s");
    println!(
        "P4 {lines} lines of 100 bytes ({:.0} MB) through SSH from linux-test under TCG, target >= 0.5 x raw, zero loss:",
        bytes / 1e6
    );
    println!(
        "  raw (the generator as the SSH command): {:7.2} MB/s in {raw_secs:6.1} s, every line in order",
        bytes / raw_secs / 1e6
    );
    println!(
        "  agent events (JSON, {:.0} MB on the wire): {:7.2} MB/s of step output in {events_secs:6.1} s, every line in order ({:.2} x raw)",
        event_bytes as f64 / 1e6,
        bytes / events_secs / 1e6,
        raw_secs / events_secs
    );
    product(solstice, lines, raw_secs, timeout)
}

/// The same step through `solstice run --executor qemu`, timed from its first output line to its
/// last as `solstice run` prints them.
fn product(solstice: &Path, lines: u64, raw_secs: f64, timeout: Duration) -> Result<()> {
    let project = Project::new(&format!("      - run: {}\n", generator(lines)))?;
    let mut command = Command::new("unshare");
    command.args(["-n", "--", "sh", "-c", NETNS_SCRIPT, "sh"]).arg(solstice);
    command.args(["run", "--executor", "qemu"]).env("SOLSTICE_ACCEL", "tcg");
    let mut seen = TimedLines::default();
    let result = project.run_command(command, timeout, |line| seen.see(line))?;
    if !result.success {
        bail!("the qemu throughput job failed: {}", result.stderr);
    }
    let secs = seen.finish(lines).context("solstice run --executor qemu")?;
    let bytes = lines as f64 * 100.0;
    println!(
        "  solstice run --executor qemu (another VM): {:7.2} MB/s of step output in {secs:6.1} s, every line in order ({:.2} x the raw rate above)",
        bytes / secs / 1e6,
        raw_secs / secs
    );
    Ok(())
}

/// What the qemu executor sends (crates/vm/src/agent_file.rs): `strip`, then `gzip -6`.
fn pack(agent: &Path, stripped: &Path, packed: &Path) -> Result<()> {
    crate::run(Command::new("strip").arg("-o").arg(stripped).arg(agent))?;
    let out = std::fs::File::create(packed)?;
    let status = Command::new("gzip").args(["-6", "-c"]).arg(stripped).stdout(out).status()?;
    if !status.success() {
        bail!("gzip failed: {status}");
    }
    Ok(())
}
