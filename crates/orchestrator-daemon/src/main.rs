//! `orchestrator`: parses its flags and hands off to [`orchestrator_daemon::run`]. Exit codes
//! (brief §3.7): 0 after a clean shutdown, 2 for a configuration error, 3 when the broker or the
//! database stayed unreachable (at start, or long enough that the lease could not be renewed).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use orchestrator_daemon::{Cli, Settings};

fn main() -> ExitCode {
    let cli = Cli::parse();
    orchestrator_daemon::init_tracing();
    let settings = match Settings::resolve(cli, |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => return orchestrator_daemon::report(&error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("orchestrator: failed to start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let shutdown = orchestrator_daemon::shutdown_signal();
        orchestrator_daemon::run(settings, shutdown).await
    });
    // Tasks still running here (a job killed when the lease was lost, a blocked database call)
    // must not hold the exit up: the lease's remaining time is what the process has to end.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => orchestrator_daemon::report(&error),
    }
}
