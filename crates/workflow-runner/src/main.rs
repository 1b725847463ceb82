//! `workflow-runner [--work-dir DIR]`: the agent inside the guest. See the library for the loop.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use engine::EngineConfig;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: workflow-runner [--work-dir DIR]\n\
    Reads a start message and control messages as JSON lines on stdin, writes job events as JSON\n\
    lines on stdout. DIR (or SOLSTICE_WORK_DIR) defaults to a fresh directory under the system\n\
    temp directory, removed at exit.";

fn main() -> ExitCode {
    init_tracing();
    match run() {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "workflow-runner failed");
            eprintln!("workflow-runner: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let Some(work_dir) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let (work_dir, _temp) = match work_dir.or_else(|| std::env::var_os("SOLSTICE_WORK_DIR").map(PathBuf::from)) {
        Some(dir) => (dir, None),
        None => {
            let temp =
                tempfile::Builder::new().prefix("solstice-work-").tempdir().context("create a work directory")?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let mut config = EngineConfig::new(work_dir);
    if let Some(name) = std::env::var("SOLSTICE_RUNNER_NAME").ok().filter(|n| !n.is_empty()) {
        config.runner_name = name;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let result = runtime.block_on(workflow_runner::run(config, tokio::io::stdin(), tokio::io::stdout()));
    // The stdin reader may still block in a read; it must not keep the process alive.
    runtime.shutdown_background();
    result.context("run the job")?;
    Ok(ExitCode::SUCCESS)
}

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Option<PathBuf>>> {
    let mut work_dir = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--work-dir" => work_dir = Some(PathBuf::from(args.next().context("--work-dir needs a directory")?)),
            "-h" | "--help" => return Ok(None),
            other => match other.strip_prefix("--work-dir=") {
                Some(dir) => work_dir = Some(PathBuf::from(dir)),
                None => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
            },
        }
    }
    Ok(Some(work_dir))
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
