//! `forgejo-runner`: parses its command line and hands off to the `forgejo` library. Exit codes
//! (brief §3.7): 0 ok, 2 usage or configuration, 3 Forgejo or the broker unreachable after
//! retries, 4 the registration is gone or invalid (register again).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use forgejo::registration::RegisterConfig;
use forgejo::settings::{Flags, Settings};

#[derive(Debug, Parser)]
#[command(name = "forgejo-runner", version, about = "Runs Forgejo Actions jobs in throw-away VMs (Solstice CI)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Registers this runner with a Forgejo instance and writes the `.runner` file.
    Register {
        /// Required: this runner asks no questions.
        #[arg(long)]
        no_interactive: bool,
        /// The Forgejo URL, e.g. https://codeberg.org.
        #[arg(long, env = "SOLSTICE_FORGEJO_URL", value_name = "URL")]
        instance: Option<String>,
        /// The registration token from Forgejo's "Create new runner".
        #[arg(long, env = "SOLSTICE_FORGEJO_TOKEN", value_name = "TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The name Forgejo shows.
        #[arg(long, env = "SOLSTICE_RUNNER_NAME", value_name = "NAME")]
        name: Option<String>,
        /// Labels, comma separated; suffixes such as `:docker://…` or `:host` are accepted and dropped.
        #[arg(long, env = "SOLSTICE_LABELS", value_delimiter = ',', value_name = "LABELS")]
        labels: Vec<String>,
        /// Register for a single job (Forgejo 15 or later); run it with `one-job`.
        #[arg(long)]
        ephemeral: bool,
        /// Seconds to keep trying while Forgejo does not answer.
        #[arg(long, default_value_t = 10, value_name = "SECS")]
        wait_for_server: u64,
    },
    /// Declares the runner and runs jobs until SIGTERM (needs SOLSTICE_AMQP_URL and SOLSTICE_BUS_KEY).
    Daemon {
        /// A TOML config file (see `generate-config`).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Labels to declare instead of the registration's, comma separated.
        #[arg(long, value_delimiter = ',', value_name = "LABELS")]
        labels: Option<Vec<String>>,
        /// How many jobs run at once.
        #[arg(long, value_name = "N")]
        capacity: Option<u32>,
    },
    /// Runs one job, if one waits, and exits with its result: 0 success, 1 otherwise (needs SOLSTICE_AMQP_URL and SOLSTICE_BUS_KEY).
    OneJob,
    /// Prints a config file with every setting at its default.
    GenerateConfig,
}

/// What the log says on SIGTERM.
const SHUTTING_DOWN: &str = "no new jobs; running ones may finish";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::GenerateConfig = cli.command {
        print!("{}", forgejo::settings::example_config());
        return ExitCode::SUCCESS;
    }
    telemetry::init_logs("info");
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        // Never shut down: the process ends when main returns. Shutting the runtime down cancels
        // the tasks lapin's I/O threads wait on, and those threads then panic ("Task did not
        // complete") into the log of a runner that was exiting cleanly (seen when the broker
        // was gone for good).
        Ok(runtime) => std::mem::ManuallyDrop::new(runtime),
        Err(error) => return fail(&anyhow::Error::new(error).context("start the async runtime"), 1),
    };
    let env = |name: &str| std::env::var(name).ok();
    match cli.command {
        Command::Register { no_interactive, instance, token, name, labels, ephemeral, wait_for_server } => {
            if !no_interactive {
                return usage("interactive registration is not supported: pass --no-interactive");
            }
            let (Some(instance), Some(token), Some(name)) = (instance, token, name) else {
                return usage("register needs --instance, --token and --name");
            };
            let config = RegisterConfig {
                instance_url: instance,
                registration_token: forgejo::RunnerToken::new(token),
                name,
                labels,
                ephemeral,
                runner_file: forgejo::settings::runner_file_path(&env),
                wait_for_server: Duration::from_secs(wait_for_server),
            };
            match runtime.block_on(forgejo::register(&config)) {
                Ok(runner) => {
                    println!("registered runner {} ({}) in {}", runner.name, runner.uuid, config.runner_file.display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    let code = error.exit_code();
                    fail(&anyhow::Error::new(error), code)
                }
            }
        }
        Command::Daemon { config, labels, capacity } => {
            let settings = match Settings::resolve(Flags { config, labels, capacity }, env) {
                Ok(settings) => settings,
                Err(error) => return fail(&anyhow::Error::new(error), 2),
            };
            let metrics = match telemetry::addr_from_env() {
                Ok(metrics) => metrics,
                Err(reason) => return usage(&reason),
            };
            match runtime.block_on(async {
                // Inside the runtime: the signal handlers are installed now.
                let shutdown = telemetry::shutdown_signal(SHUTTING_DOWN);
                telemetry::serving(metrics, forgejo::daemon::run(settings, shutdown)).await
            }) {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(error)) => {
                    let code = error.exit_code();
                    fail(&anyhow::Error::new(error), code)
                }
                Err(error) => fail(&anyhow::Error::new(error), 2),
            }
        }
        Command::OneJob => {
            let settings = match Settings::resolve(Flags::default(), env) {
                Ok(settings) => settings,
                Err(error) => return fail(&anyhow::Error::new(error), 2),
            };
            match runtime.block_on(forgejo::daemon::one_job(&settings)) {
                Ok(Some(forgejo::report::TaskResult::Success)) => ExitCode::SUCCESS,
                Ok(Some(result)) => {
                    eprintln!("forgejo-runner: the job ended {result:?}");
                    ExitCode::from(1)
                }
                Ok(None) => {
                    eprintln!("forgejo-runner: no job is waiting for this runner");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    let code = error.exit_code();
                    fail(&anyhow::Error::new(error), code)
                }
            }
        }
        Command::GenerateConfig => ExitCode::SUCCESS,
    }
}

/// Prints `failed to <error>: <causes>` on stderr and returns `code`.
fn fail(error: &anyhow::Error, code: u8) -> ExitCode {
    let text = format!("forgejo-runner: failed to {error:#}");
    eprintln!("{text}");
    tracing::error!(exit = code, "{text}");
    ExitCode::from(code)
}

fn usage(reason: &str) -> ExitCode {
    eprintln!("forgejo-runner: {reason}");
    ExitCode::from(2)
}
