//! `solstice images`: the catalog's labels (`list`), downloading one (`pull`), booting one with a
//! trivial job (`verify`). The work is in the `images` crate; this is the command line and the
//! exit codes (brief §3.7): 0 ok, 1 `verify` ran and the image failed it, 2 bad input (a label
//! the catalog lacks or cannot download, a bad `SOLSTICE_IMAGES`), 3 a dependency failed (the
//! download, its checksum, `qemu-img`, QEMU, the agent, the image missing for `verify`).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use images::{NoProgress, Progress, PullOptions, TerminalBar};
use vm::{Catalog, CatalogError};

use crate::cli::GuestNetwork;
use crate::run::exit;

#[derive(Debug, Clone, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ImagesCommand {
    /// Every `runs-on` label of the catalog: its OS, whether it is on this host and its size.
    List,
    /// Download an image, verify its checksum, decompress it, convert it to qcow2 and install it
    /// under the state directory.
    Pull {
        /// The catalog label, e.g. `omnios-r151054`.
        label: String,
        /// Download again even when the image is already here.
        #[arg(long)]
        force: bool,
    },
    /// Boot an image with a trivial job (`uname -a; hostname`) and print how long it took.
    Verify {
        label: String,
        /// Give up after this many seconds (boot included).
        #[arg(long, value_name = "SECONDS", default_value_t = 900)]
        timeout: u64,
    },
}

/// Runs `solstice images`; returns the exit code.
pub async fn main(args: ImagesArgs) -> u8 {
    let catalog = match load_catalog() {
        Ok(catalog) => catalog,
        Err(error) => {
            report(&error);
            return exit::BAD_INPUT;
        }
    };
    let Some(state_dir) = crate::vm_host::state_dir() else {
        tracing::error!("find a state directory: set SOLSTICE_STATE_DIR (neither XDG_STATE_HOME nor HOME is set)");
        return exit::BAD_INPUT;
    };
    match args.command {
        ImagesCommand::List => list(&catalog, &state_dir),
        ImagesCommand::Pull { label, force } => pull(&catalog, &label, &state_dir, force).await,
        ImagesCommand::Verify { label, timeout } => verify(&catalog, &label, Duration::from_secs(timeout)).await,
    }
}

/// `SOLSTICE_IMAGES` when set, else the compiled-in catalog (brief §3.6).
fn load_catalog() -> Result<Catalog, CatalogError> {
    match std::env::var_os("SOLSTICE_IMAGES") {
        Some(path) => Catalog::load(Path::new(&path)),
        None => Catalog::builtin(),
    }
}

fn list(catalog: &Catalog, state_dir: &Path) -> u8 {
    let entries = images::list(catalog, state_dir);
    let width = entries.iter().map(|entry| entry.label.len()).max().unwrap_or(5).max(5);
    println!("{:width$}  {:8}  {:6}  {:>9}  DESCRIPTION", "LABEL", "OS", "CACHED", "SIZE");
    for entry in entries {
        let cached = if entry.cached { "yes" } else { "no" };
        let size = entry.size.map(human_size).unwrap_or_else(|| "-".into());
        println!("{:width$}  {:8}  {:6}  {:>9}  {}", entry.label, entry.os, cached, size, entry.description);
    }
    exit::OK
}

async fn pull(catalog: &Catalog, label: &str, state_dir: &Path, force: bool) -> u8 {
    let options = PullOptions { force, ..PullOptions::default() };
    let progress: Arc<dyn Progress> =
        if std::io::stderr().is_terminal() { Arc::new(TerminalBar::new()) } else { Arc::new(NoProgress) };
    // Ctrl-C drops the pull, whose staging directory goes with it: no half image stays.
    let result = tokio::select! {
        result = images::pull(catalog, label, state_dir, &options, progress) => result,
        _ = tokio::signal::ctrl_c() => {
            tracing::error!("pull {label}: interrupted; nothing was installed");
            return 130;
        }
    };
    match result {
        Ok(dir) => {
            println!("{label}: {}", dir.display());
            exit::OK
        }
        Err(error) => {
            report(&error);
            error.exit_code()
        }
    }
}

async fn verify(catalog: &Catalog, label: &str, timeout: Duration) -> u8 {
    if catalog.get(label).is_none() {
        let known = catalog.labels().collect::<Vec<_>>().join(", ");
        tracing::error!("verify {label}: no image with this label in the catalog (it has: {known})");
        return exit::BAD_INPUT;
    }
    // The trivial job needs no network: the guest gets none.
    let executor = match crate::vm_host::qemu_executor(&[label.to_owned()], GuestNetwork::None) {
        Ok(executor) => executor,
        Err(error) => {
            report(&error);
            return error.exit_code();
        }
    };
    match images::verify(&executor, label, timeout).await {
        Ok(report) => {
            println!("{label}: booted in {:.1} s (QEMU start to SSH answering)", report.boot.as_secs_f64());
            println!("{label}: uname -a: {}", report.uname);
            println!("{label}: hostname: {} (the job id)", report.hostname);
            exit::OK
        }
        Err(error) => {
            for line in error.log() {
                eprintln!("{label}: {line}");
            }
            report(&error);
            exit::JOB_FAILED
        }
    }
}

/// `1.2 GiB`, `512 KiB`, `17 B`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The error and its causes on one line.
fn report(error: &dyn std::error::Error) {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!("{text}");
}
