//! The command line. Settings follow brief §3.6: flag > environment > default.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "solstice", version, about = "Run CI workflows in throw-away VMs of any OS QEMU boots")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow file on this machine, through the same orchestrator and executors a forge
    /// job takes.
    Run(RunArgs),
    /// The image catalog: list the `runs-on` labels, pull an image, verify one boots.
    Images(crate::images::ImagesArgs),
    /// Runners for the configured forges and an orchestrator in one process, on an in-process
    /// bus and SQLite: one host, no broker, no database server.
    Serve(crate::serve::ServeArgs),
    /// Install the systemd units, private settings files with a shared bus key and this
    /// executable, as system services (enables nothing).
    Install(crate::install::InstallArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Where jobs run: `qemu` (one VM per job) or `local` (child processes, no isolation).
    #[arg(long, env = "SOLSTICE_EXECUTOR", value_enum, default_value_t = ExecutorKind::Qemu)]
    pub executor: ExecutorKind,
    /// What a VM's guest reaches: `routed` (the WAN, with DNS, and nothing of this host) or
    /// `none` (no network at all). Without root the VMs share this host's network either way.
    #[arg(long, env = "SOLSTICE_GUEST_NETWORK", value_enum, default_value_t = GuestNetwork::Routed)]
    pub guest_network: GuestNetwork,
    /// Run only this job; the jobs it needs are taken as successful with no outputs.
    #[arg(long = "job", value_name = "ID")]
    pub job: Option<String>,
    /// Run only the matrix combinations where `matrix.KEY` is VALUE (repeatable).
    #[arg(long = "matrix", value_name = "KEY=VALUE", value_parser = key_value)]
    pub matrix: Vec<(String, String)>,
    /// Add to the workflow-level `env:` (a job's or step's `env:` still wins).
    #[arg(long = "env", value_name = "K=V", value_parser = key_value)]
    pub env: Vec<(String, String)>,
    /// `secrets.K`; masked in every line.
    #[arg(long = "secret", value_name = "K=V", value_parser = key_value)]
    pub secret: Vec<(String, String)>,
    /// `vars.K`.
    #[arg(long = "var", value_name = "K=V", value_parser = key_value)]
    pub var: Vec<(String, String)>,
    /// `inputs.K`.
    #[arg(long = "input", value_name = "K=V", value_parser = key_value)]
    pub input: Vec<(String, String)>,
    /// `github.event_name`.
    #[arg(long, value_name = "NAME", default_value = "push")]
    pub event: String,
    /// `github.event`: a JSON payload as the forge would send it.
    #[arg(long, value_name = "FILE")]
    pub event_file: Option<PathBuf>,
    /// The workflow file (`.github/workflows/*.yml`, `.forgejo/workflows/*.yml`, `.solstice/workflow.kdl`).
    #[arg(value_name = "WORKFLOW_FILE")]
    pub workflow: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    Qemu,
    Local,
}

/// What a qemu job's guest can reach (brief §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuestNetwork {
    Routed,
    None,
}

/// `K=V`, split at the first `=`; the key must not be empty.
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got '{text}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> Option<RunArgs> {
        let argv = ["solstice", "run"].iter().chain(args).chain(&["ci.yml"]);
        match Cli::try_parse_from(argv).ok()?.command {
            Command::Run(run) => Some(run),
            _ => None,
        }
    }

    #[test]
    fn guests_are_routed_unless_told_otherwise() {
        // The environment variable would override the default; this test's process has none.
        if std::env::var_os("SOLSTICE_GUEST_NETWORK").is_none() {
            assert_eq!(run_args(&[]).map(|r| r.guest_network), Some(GuestNetwork::Routed));
        }
        assert_eq!(run_args(&["--guest-network", "none"]).map(|r| r.guest_network), Some(GuestNetwork::None));
        assert!(run_args(&["--guest-network", "bridged"]).is_none(), "an unknown value is refused");
    }
}
