//! `solstice images verify LABEL`: boot the image through an executor (the qemu one, as a job
//! would), run `uname -a` and `hostname` in it, and time the boot. The hostname proves the
//! answer came from this boot: the executor sets it to the job's id, a fresh nonce.

use std::time::Duration;

use contract::{BusKey, Event, ForgeKind, JobRequest, Origin, StepCommand, Template};
use orchestrator::{AgentOutput, Executor, ExecutorError, JobStart};
use ulid::Ulid;

/// What a verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub label: String,
    /// From `vm booting` to `vm ready` (SSH answered), as the executor stamped them.
    pub boot: Duration,
    /// The guest's `uname -a`.
    pub uname: String,
    /// The guest's `hostname`: the job's id.
    pub hostname: String,
    /// Every log line of the job, in order (setup lines included: the boot's story).
    pub log: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("make a key for the job")]
    Key(#[source] contract::KeyError),
    #[error("start the job")]
    Start(#[source] ExecutorError),
    #[error("boot {label} and run the job: it ended {result}{}", error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Failed { label: String, result: String, error: Option<String>, log: Vec<String> },
    #[error("boot {label}: no answer within {} s", after.as_secs())]
    Timeout { label: String, after: Duration, log: Vec<String> },
    #[error("check the guest: it says its hostname is {got:?}, not the job id {expected}")]
    WrongHost { expected: String, got: String, log: Vec<String> },
}

impl VerifyError {
    /// The job's log lines so far, for the user to see why (the serial tail is among them).
    pub fn log(&self) -> &[String] {
        match self {
            VerifyError::Failed { log, .. } | VerifyError::Timeout { log, .. } | VerifyError::WrongHost { log, .. } => {
                log
            }
            VerifyError::Key(_) | VerifyError::Start(_) => &[],
        }
    }
}

const UNAME: &str = "solstice-verify uname: ";
const HOSTNAME: &str = "solstice-verify hostname: ";

/// Runs the trivial job on `label` through `executor`, waiting at most `deadline` for it to end.
pub async fn verify<E: Executor>(executor: &E, label: &str, deadline: Duration) -> Result<VerifyReport, VerifyError> {
    let origin = Origin {
        forge: ForgeKind::Local,
        runner_id: "solstice-images-verify".into(),
        forge_ref: serde_json::Value::Null,
    };
    let job_id = Ulid::new();
    let mut request = JobRequest::new(job_id, origin, label, "verify");
    request.timeout_minutes = Some(Template::literal(deadline.as_secs().div_ceil(60).max(1)));
    let script = format!("echo \"{UNAME}$(uname -a)\"\necho \"{HOSTNAME}$(hostname)\"\n");
    request.steps = vec![StepCommand::run(0, "verify", Template::literal(script))];
    let key = BusKey::generate().map_err(VerifyError::Key)?;
    let mut handle =
        executor.start(JobStart { request, bus_key: key.to_base64() }).await.map_err(VerifyError::Start)?;

    let mut log = Vec::new();
    let (mut booting, mut ready, mut finished) = (None, None, None);
    let waited = tokio::time::timeout(deadline, async {
        while let Some(output) = handle.next().await {
            match output {
                AgentOutput::Event(event) => match event.event {
                    Event::VmBooting { .. } => booting = Some(event.at),
                    Event::VmReady { .. } => ready = Some(event.at),
                    Event::Log { lines, .. } => log.extend(lines),
                    Event::JobFinished { result, error, .. } => finished = Some((result, error)),
                    _ => {}
                },
                AgentOutput::Invalid { line, error } => log.push(format!("(not an event: {error}: {line})")),
                AgentOutput::Exited { .. } => break,
            }
        }
    })
    .await;
    if waited.is_err() {
        handle.kill();
        return Err(VerifyError::Timeout { label: label.to_owned(), after: deadline, log });
    }
    let failed =
        |result: String, error| VerifyError::Failed { label: label.to_owned(), result, error, log: log.clone() };
    match finished {
        Some((contract::Outcome::Success, _)) => {}
        Some((result, error)) => return Err(failed(result.as_str().to_owned(), error)),
        None => return Err(failed("without a result".into(), None)),
    }
    let find =
        |prefix: &str| log.iter().find_map(|line| line.strip_prefix(prefix)).unwrap_or_default().trim().to_owned();
    let (uname, hostname) = (find(UNAME), find(HOSTNAME));
    // Guests may lowercase the name they were given (it is a DNS label).
    if !hostname.eq_ignore_ascii_case(&job_id.to_string()) {
        return Err(VerifyError::WrongHost { expected: job_id.to_string(), got: hostname, log });
    }
    let boot = match (booting, ready) {
        (Some(booting), Some(ready)) => (ready - booting).unsigned_abs(),
        _ => Duration::ZERO,
    };
    Ok(VerifyReport { label: label.to_owned(), boot, uname, hostname, log })
}
