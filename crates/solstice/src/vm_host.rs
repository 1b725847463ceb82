//! What `--executor qemu` needs from this host before any job starts: the state directory, the
//! image catalog, the images the jobs run on, the agent for each image's target, the host
//! programs, the accelerator setting and where the guests' network lives. Everything missing is
//! reported before a VM boots, with how to get it.

use std::path::{Path, PathBuf};

use crate::cli::GuestNetwork;
use orchestrator::{AGENT_NAME, AgentNotFound, HOST_TARGET, locate_agent};
use vm::{
    ACCEL_ENV, AccelChoice, BUILTIN_CATALOG, BadAccel, Catalog, CatalogError, Image, NetworkMode, QemuExecutor,
    QemuExecutorConfig, SetupError, Uplink,
};

/// The catalog override (brief §3.6): a TOML file in the format of `images/catalog.toml`.
const IMAGES_ENV: &str = "SOLSTICE_IMAGES";

/// The Debian packages that hold the programs of [`vm::Tools`].
const HOST_PACKAGES: &str = "qemu-system-x86 qemu-utils passt dosfstools mtools iproute2";

#[derive(Debug, thiserror::Error)]
pub enum VmHostError {
    #[error("read {ACCEL_ENV}")]
    Accel(#[source] BadAccel),
    #[error("find a state directory: set SOLSTICE_STATE_DIR (neither XDG_STATE_HOME nor HOME is set)")]
    NoStateDir,
    #[error("load the image catalog named by {IMAGES_ENV}")]
    Catalog(#[source] CatalogError),
    #[error("runs-on: {label}: no image with this label in the catalog (it has: {known})")]
    UnknownLabel { label: String, known: String },
    #[error("image {label} is not on this host: {missing} is missing; {hint}")]
    ImageMissing { label: String, missing: PathBuf, hint: String },
    #[error("image {label} needs the agent for {target}")]
    Agent {
        label: String,
        target: String,
        #[source]
        source: AgentNotFound,
    },
    #[error(
        "the qemu executor needs {programs}, which are not installed (Debian: apt-get install {HOST_PACKAGES}, or run scripts/setup.sh)"
    )]
    ToolsMissing { programs: String },
    #[error(
        "routed guests need {program}, which is not installed (Debian: apt-get install nftables); or pass --guest-network none"
    )]
    NftMissing { program: PathBuf },
    #[error("set up the qemu executor")]
    Setup(#[source] SetupError),
}

impl VmHostError {
    /// Brief §3.7: a setting that is wrong is 2, something this host lacks is 3.
    pub fn exit_code(&self) -> u8 {
        match self {
            VmHostError::Accel(_)
            | VmHostError::NoStateDir
            | VmHostError::Catalog(_)
            | VmHostError::UnknownLabel { .. } => crate::run::exit::BAD_INPUT,
            VmHostError::ImageMissing { .. }
            | VmHostError::Agent { .. }
            | VmHostError::ToolsMissing { .. }
            | VmHostError::NftMissing { .. }
            | VmHostError::Setup(_) => crate::run::exit::DEPENDENCY_MISSING,
        }
    }
}

/// The qemu executor for jobs routed to `labels`, or why it cannot run them here.
pub(crate) fn qemu_executor(labels: &[String], guest: GuestNetwork) -> Result<QemuExecutor, VmHostError> {
    let accel = AccelChoice::from_env().map_err(VmHostError::Accel)?;
    let state_dir = state_dir().ok_or(VmHostError::NoStateDir)?;
    let catalog_text = match std::env::var_os(IMAGES_ENV) {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|source| VmHostError::Catalog(CatalogError::Read { path: PathBuf::from(&path), source }))?,
        None => BUILTIN_CATALOG.to_owned(),
    };
    let catalog = Catalog::parse(&catalog_text).map_err(VmHostError::Catalog)?;
    let agent_dir = std::env::var_os("SOLSTICE_AGENT_DIR").map(PathBuf::from);
    let mut config = QemuExecutorConfig::new(state_dir, catalog);
    config.accel = accel;
    config.agent_dir = agent_dir;
    config.network = network_mode(guest, is_root());
    if !is_root() {
        warn_shared();
    }

    for label in labels {
        let Some(image) = config.catalog.get(label) else {
            let known = config.catalog.labels().collect::<Vec<_>>().join(", ");
            return Err(VmHostError::UnknownLabel { label: label.clone(), known });
        };
        let dir = config.images_dir.join(label);
        if let Some(missing) = missing_file(image, &dir) {
            let hint = fetch_hint(&catalog_text, label, &dir);
            return Err(VmHostError::ImageMissing { label: label.clone(), missing, hint });
        }
        if let Some(target) = &image.agent_target {
            find_agent(target, config.agent_dir.as_deref()).map_err(|source| VmHostError::Agent {
                label: label.clone(),
                target: target.clone(),
                source,
            })?;
        }
    }
    let missing: Vec<String> = config.tools.missing().iter().map(|p| p.display().to_string()).collect();
    if !missing.is_empty() {
        return Err(VmHostError::ToolsMissing { programs: missing.join(", ") });
    }
    if config.network == NetworkMode::PerVm(Uplink::Routed) && !config.tools.nft.is_file() {
        return Err(VmHostError::NftMissing { program: config.tools.nft.clone() });
    }
    QemuExecutor::new(config).map_err(VmHostError::Setup)
}

/// `SOLSTICE_STATE_DIR`; else `/var/lib/solstice` as root and `$XDG_STATE_HOME/solstice`
/// (`~/.local/state/solstice`) otherwise (brief §3.6).
pub(crate) fn state_dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("SOLSTICE_STATE_DIR") {
        return Some(dir);
    }
    if is_root() {
        return Some(PathBuf::from("/var/lib/solstice"));
    }
    match set("XDG_STATE_HOME").filter(|dir| dir.is_absolute()) {
        Some(dir) => Some(dir.join("solstice")),
        None => set("HOME").map(|home| home.join(".local/state/solstice")),
    }
}

/// A network namespace per VM needs root (CAP_SYS_ADMIN); in it the guest gets what `guest`
/// asks for. Without root the VMs share this host's network whatever was asked, which the user
/// must know (see [`warn_shared`]).
fn network_mode(guest: GuestNetwork, root: bool) -> NetworkMode {
    match (root, guest) {
        (true, GuestNetwork::Routed) => NetworkMode::PerVm(Uplink::Routed),
        (true, GuestNetwork::None) => NetworkMode::PerVm(Uplink::Blackhole),
        (false, _) => NetworkMode::Shared,
    }
}

fn warn_shared() {
    tracing::warn!(
        "not running as root, so the VMs share this host's network: a guest can reach what this host reaches, \
         its private networks included (not its loopback), and its SSH forward is a port on 127.0.0.1; \
         run as root for a network namespace per VM"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The first file the image needs that is not in `dir`.
fn missing_file(image: &Image, dir: &Path) -> Option<PathBuf> {
    let mut needed = Vec::new();
    if let Some(kernel) = &image.kernel {
        needed.push(kernel.kernel_in(dir));
        needed.extend(kernel.initrd.as_ref().map(|initrd| dir.join(initrd)));
    }
    if let Some(disk) = &image.disk {
        needed.push(dir.join(&disk.file));
    }
    needed.into_iter().find(|path| !path.is_file())
}

/// How to get an image: the catalog's `build` script for images made on this host, else a pull.
fn fetch_hint(catalog_text: &str, label: &str, dir: &Path) -> String {
    let table: Option<toml::Table> = catalog_text.parse().ok();
    let build = table
        .as_ref()
        .and_then(|t| t.get("images"))
        .and_then(|images| images.get(label))
        .and_then(|image| image.get("build"))
        .and_then(toml::Value::as_str);
    match build {
        Some(script) => format!("build it with `sudo {script} {}` (from the Solstice source tree)", dir.display()),
        None => format!("pull it with `solstice images pull {label}` (into {})", dir.display()),
    }
}

/// The agent binary for `target`, as the executor will look for it.
fn find_agent(target: &str, agent_dir: Option<&Path>) -> Result<PathBuf, AgentNotFound> {
    if target == HOST_TARGET {
        return locate_agent(agent_dir);
    }
    let candidate = agent_dir.map(|dir| dir.join(target).join(AGENT_NAME));
    match candidate {
        Some(path) if path.is_file() => Ok(path),
        other => Err(AgentNotFound { tried: other.into_iter().collect() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_gets_a_namespace_per_vm_routed_or_blackholed_as_asked() {
        assert_eq!(network_mode(GuestNetwork::Routed, true), NetworkMode::PerVm(Uplink::Routed));
        assert_eq!(network_mode(GuestNetwork::None, true), NetworkMode::PerVm(Uplink::Blackhole));
        assert_eq!(network_mode(GuestNetwork::Routed, false), NetworkMode::Shared);
    }
}
