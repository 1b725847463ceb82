//! When a VM test may run, and what it runs with: the built `linux-test` image, the agent.
//!
//! **Skips.** Without the image (`images/build-test-image.sh`) or without root, a VM test prints
//! a loud SKIPPED line and passes, unless `SOLSTICE_REQUIRE_VM` is set (CI sets it), when it
//! fails instead.
//!
//! **Agent.** `workflow-runner` must be built first (`cargo build -p workflow-runner`): it is
//! taken from `$SOLSTICE_AGENT_DIR/<target>/` when that is set, else from the target directory
//! above the test binary.

use std::path::{Path, PathBuf};

/// Where the built images are.
pub const IMAGES: &str = "/var/lib/solstice/images";
/// The image the VM tests boot.
pub const LABEL: &str = "linux-test";
/// The agent's file name.
pub const AGENT: &str = "workflow-runner";

/// The test image's directory.
pub fn image() -> PathBuf {
    Path::new(IMAGES).join(LABEL)
}

/// Why VM tests cannot run here, or `None` when they can; see the module's skip rule.
pub fn unavailable() -> Option<String> {
    let image = image();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let why = if !image.join("initramfs.cpio.gz").is_file() {
        format!("the test image {} is not built (images/build-test-image.sh)", image.display())
    } else if !root {
        "the VM tests need root for their network namespaces".to_owned()
    } else {
        return None;
    };
    if std::env::var_os("SOLSTICE_REQUIRE_VM").is_some() {
        panic!("SOLSTICE_REQUIRE_VM is set but {why}");
    }
    eprintln!("\n!!!!! SKIPPED: {why}; set SOLSTICE_REQUIRE_VM=1 to make this a failure !!!!!\n");
    Some(why)
}

/// `name` in the target directory the test binary was built into (the binaries of the
/// workspace land there, one level above `deps/`). Fails saying how to build it.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test binary lies in <target>/<profile>/deps");
    let binary = profile_dir.join(name);
    assert!(
        binary.is_file(),
        "no {name} at {}: build it first with `cargo build -p {name}` (or set SOLSTICE_AGENT_DIR for the agent)",
        binary.display()
    );
    binary
}

/// An agent dir laid out as the executors expect it (`<dir>/<target>/workflow-runner`).
pub struct AgentDir {
    pub path: PathBuf,
    /// Set when the dir was made here, removed with it.
    _made: Option<tempfile::TempDir>,
}

impl AgentDir {
    /// `$SOLSTICE_AGENT_DIR` when set, else a temporary dir holding a link to the built agent
    /// under `host_target` (the orchestrator's `HOST_TARGET`).
    pub fn locate(host_target: &str) -> AgentDir {
        if let Some(dir) = std::env::var_os("SOLSTICE_AGENT_DIR") {
            return AgentDir { path: dir.into(), _made: None };
        }
        let made = tempfile::tempdir().expect("make an agent dir");
        let target = made.path().join(host_target);
        std::fs::create_dir(&target).expect("make the agent dir's target dir");
        std::os::unix::fs::symlink(built_binary(AGENT), target.join(AGENT)).expect("link the agent");
        AgentDir { path: made.path().to_owned(), _made: Some(made) }
    }
}

/// Makes `dir` an image that never boots: the test image's kernel with an initramfs that is
/// not one, so the kernel panics ("VFS: Unable to mount root fs"), `panic=-1` reboots, and
/// QEMU's `-no-reboot` ends it.
pub fn add_panicking_image(dir: &Path) {
    std::fs::create_dir(dir).expect("make the panicking image's dir");
    for kernel in ["vmlinux", "vmlinuz"] {
        let real = image().join(kernel);
        if real.is_file() {
            std::os::unix::fs::symlink(real, dir.join(kernel)).expect("link the test image's kernel");
        }
    }
    std::fs::write(dir.join("initramfs.cpio.gz"), b"this is not a cpio archive").expect("write the bad initramfs");
}

/// A state dir for an executor: passt drops to `nobody` as root and must reach its socket
/// below it, so it is world-searchable.
pub fn state_dir() -> tempfile::TempDir {
    let state = tempfile::tempdir().expect("make a state dir");
    std::fs::set_permissions(state.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711))
        .expect("open the state dir to passt");
    state
}
