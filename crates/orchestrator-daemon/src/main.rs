//! `orchestrator`: parses its flags and hands off to [`orchestrator_daemon::run`]. Exit codes
//! (brief §3.7): 0 after a clean shutdown, 2 for a configuration error, 3 when the broker or the
//! database stayed unreachable.

use std::process::ExitCode;

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
    match runtime.block_on(orchestrator_daemon::run(settings, orchestrator_daemon::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => orchestrator_daemon::report(&error),
    }
}
