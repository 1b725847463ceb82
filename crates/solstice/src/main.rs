use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use solstice::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    if let Command::Install(args) = cli.command {
        return ExitCode::from(solstice::install::main(args));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("failed to start the async runtime: {error}");
            return ExitCode::from(3);
        }
    };
    match cli.command {
        Command::Run(args) => ExitCode::from(runtime.block_on(solstice::run::main(args))),
        Command::Images(args) => ExitCode::from(runtime.block_on(solstice::images::main(args))),
        Command::Serve(args) => ExitCode::from(runtime.block_on(solstice::serve::main(args))),
        Command::Install(args) => ExitCode::from(solstice::install::main(args)),
    }
}

/// Diagnostics to stderr: human on a terminal, JSON otherwise; `RUST_LOG` filters (default warn).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.with_target(false).init();
    } else {
        builder.json().init();
    }
}
