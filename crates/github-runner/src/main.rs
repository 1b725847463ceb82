//! `github-runner`: Solstice's GitHub Actions self-hosted runner. `configure`, `run` and `remove`
//! as actions/runner's `config.sh`/`run.sh` take them (issue 5 §2); the work is the `github`
//! library's. Exit codes (brief §3.7): 0 ok, 2 usage or configuration, 3 GitHub or the broker
//! unreachable after retries, 4 the registration is gone or its token refused.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use github::files::{Registration, from_jit_config};
use github::registration::{ConfigureOptions, Removed, registration_dir};
use github::settings::Settings;

#[derive(Debug, Parser)]
#[command(name = "github-runner", version, about = "Runs GitHub Actions jobs in throw-away VMs (Solstice CI)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Registers runners with GitHub (or saves a JIT config) under SOLSTICE_STATE_DIR/github/.
    Configure(Configure),
    /// Runs jobs for every registration until SIGTERM (needs SOLSTICE_AMQP_URL and SOLSTICE_BUS_KEY).
    Run {
        /// Save this JIT config (base64) as a registration first, then run.
        #[arg(long, value_name = "B64", hide_env_values = true)]
        jitconfig: Option<String>,
        /// With --jitconfig: the runner's labels as created on GitHub (one must name a VM image).
        #[arg(long, value_delimiter = ',', value_name = "LABELS")]
        labels: Vec<String>,
        /// A TOML config file (see docs/github-runner.md).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Removes the runners from GitHub and deletes their files.
    Remove {
        /// A remove token (the "Remove" dialog of the runner settings page).
        #[arg(long, value_name = "TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Only this runner (a directory name under SOLSTICE_STATE_DIR/github/); else all of them.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
}

#[derive(Debug, Args)]
struct Configure {
    /// The repository, organisation or enterprise URL.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The registration token.
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The runner name; with --count N the runners are NAME-1 … NAME-N.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Labels, comma separated; exactly one must name a VM image of the catalog.
    #[arg(long, value_delimiter = ',', value_name = "LABELS")]
    labels: Vec<String>,
    /// One job per runner, then GitHub deletes it.
    #[arg(long)]
    ephemeral: bool,
    /// The runner group by name (default: the default group).
    #[arg(long, value_name = "GROUP")]
    runnergroup: Option<String>,
    /// Replace runners of the same names, on GitHub and on disk.
    #[arg(long)]
    replace: bool,
    /// How many runners to register; each runs one job at a time.
    #[arg(long, default_value_t = 1, value_name = "N")]
    count: u32,
    /// Accepted for compatibility: this runner never asks questions.
    #[arg(long)]
    unattended: bool,
    /// Save a JIT config (base64) instead of registering; --labels names its labels.
    #[arg(long, value_name = "B64", hide_env_values = true)]
    jitconfig: Option<String>,
}

/// What the log says on SIGTERM.
const SHUTTING_DOWN: &str = "no new jobs; running ones may finish";

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logs("info");
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        // Never shut down: the process ends when main returns. Shutting the runtime down cancels
        // the tasks lapin's I/O threads wait on, and those threads then panic ("Task did not
        // complete") into the log of a runner that was exiting cleanly (seen when the broker
        // was gone for good).
        Ok(runtime) => std::mem::ManuallyDrop::new(runtime),
        Err(error) => return fail(&anyhow::Error::new(error).context("start the async runtime"), 1),
    };
    let env = |name: &str| std::env::var(name).ok();
    let state_dir = github::settings::state_dir(&env);
    let api_url = github::settings::api_url(&env);
    match cli.command {
        Command::Configure(options) => match options.jitconfig.clone() {
            Some(jit) => match save_jit(&state_dir, &jit, &options.labels, options.replace) {
                Ok(dir) => {
                    println!("saved the JIT runner in {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            },
            None => runtime.block_on(configure(options, state_dir, api_url)),
        },
        Command::Run { jitconfig, labels, config } => {
            if let Some(jit) = jitconfig
                && let Err(code) = save_jit(&state_dir, &jit, &labels, true)
            {
                return code;
            }
            let settings = match Settings::resolve(config.as_deref(), env) {
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
                telemetry::serving(metrics, github::daemon::run(settings, shutdown)).await
            }) {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(error)) => {
                    let code = error.exit_code();
                    fail(&anyhow::Error::new(error), code)
                }
                Err(error) => fail(&anyhow::Error::new(error), 2),
            }
        }
        Command::Remove { token, name } => {
            let Some(token) = token else { return usage("remove needs --token") };
            runtime.block_on(remove(&state_dir, &token, name.as_deref(), api_url.as_deref()))
        }
    }
}

async fn configure(options: Configure, state_dir: PathBuf, api_url: Option<String>) -> ExitCode {
    let (Some(url), Some(token), Some(name)) = (options.url, options.token, options.name) else {
        return usage("configure needs --url, --token and --name (or --jitconfig)");
    };
    let labels: Vec<String> =
        options.labels.iter().map(|label| label.trim().to_owned()).filter(|label| !label.is_empty()).collect();
    if let Err(reason) = github::daemon::route_label(&labels) {
        return usage(&format!("configure {name}: {reason}"));
    }
    let configure = ConfigureOptions {
        url,
        token,
        name,
        labels,
        runner_group: options.runnergroup,
        replace: options.replace,
        ephemeral: options.ephemeral,
        count: options.count,
        state_dir,
        api_url,
    };
    match github::registration::configure(&configure).await {
        Ok(dirs) => {
            for dir in dirs {
                println!("configured runner in {}", dir.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            let code = error.exit_code();
            fail(&anyhow::Error::new(error), code)
        }
    }
}

/// Saves a JIT config as `<state dir>/github/<its name>/`, with `labels` as its labels.
fn save_jit(state_dir: &Path, jit: &str, labels: &[String], replace: bool) -> Result<PathBuf, ExitCode> {
    let (mut registration, key) = match from_jit_config(jit) {
        Ok(found) => found,
        Err(error) => return Err(fail(&anyhow::Error::new(error).context("use the JIT config"), 2)),
    };
    let labels: Vec<String> = labels.iter().map(|label| label.trim().to_owned()).filter(|l| !l.is_empty()).collect();
    if !labels.is_empty() {
        registration.labels = labels;
    }
    if let Err(reason) = github::daemon::route_label(&registration.labels) {
        return Err(usage(&format!("use the JIT config: {reason} (pass --labels)")));
    }
    let dir = registration_dir(state_dir, &registration.agent_name);
    if Registration::exists(&dir) && !replace {
        return Err(usage(&format!("{} already holds a registration; pass --replace", dir.display())));
    }
    match registration.save(&dir, &key) {
        Ok(()) => Ok(dir),
        Err(error) => Err(fail(&anyhow::Error::new(error).context("save the JIT runner"), 2)),
    }
}

async fn remove(state_dir: &Path, token: &str, name: Option<&str>, api_url: Option<&str>) -> ExitCode {
    let found = match github::daemon::registrations(state_dir) {
        Ok(found) => found,
        Err(error) => {
            let code = error.exit_code();
            return fail(&anyhow::Error::new(error), code);
        }
    };
    let dirs: Vec<PathBuf> = found
        .into_iter()
        .map(|(dir, _, _)| dir)
        .filter(|dir| name.is_none_or(|name| dir.file_name().is_some_and(|file| file == name)))
        .collect();
    if dirs.is_empty() {
        return usage(&format!("remove: no registration under {}", state_dir.join("github").display()));
    }
    for dir in dirs {
        match github::registration::remove(&dir, token, api_url).await {
            Ok(Removed::Deleted) => println!("removed the runner in {}", dir.display()),
            Ok(Removed::AlreadyGone) => {
                println!("GitHub no longer knew the runner in {}; removed its files", dir.display())
            }
            Ok(Removed::LocalOnly) => println!("removed the files of the JIT runner in {}", dir.display()),
            Err(error) => {
                let code = error.exit_code();
                return fail(&anyhow::Error::new(error), code);
            }
        }
    }
    ExitCode::SUCCESS
}

/// Prints `failed to <error>: <causes>` on stderr and returns `code`.
fn fail(error: &anyhow::Error, code: u8) -> ExitCode {
    let text = format!("github-runner: failed to {error:#}");
    eprintln!("{text}");
    tracing::error!(exit = code, "{text}");
    ExitCode::from(code)
}

fn usage(reason: &str) -> ExitCode {
    eprintln!("github-runner: {reason}");
    ExitCode::from(2)
}
