//! `solstice run --executor qemu` end to end: the real binary boots the real `linux-test` image
//! under TCG and prints the guest's own hostname, which the executor sets to the job id.
//!
//! **Network.** The binary runs under `unshare -n`, in a network namespace holding only `lo` and
//! a tap device with a TEST-NET-1 address and a default route to a gateway that does not exist
//! (`testkit::netns::shell_prefix`); as root, `solstice` then makes a further namespace per VM
//! inside it. No packet can leave this machine.
//!
//! **Skips.** Without the image (`images/build-test-image.sh`) or without root, the tests print a
//! loud SKIPPED line and pass, unless `SOLSTICE_REQUIRE_VM` is set, when they fail instead.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use testkit::vm::unavailable;

use crate::{assert_exit, text};

/// `solstice run --executor qemu workflow.yml` in a project holding `workflow`, inside a
/// network namespace of its own, with a state dir whose `images/linux-test` is the built image.
fn run_in_vm(workflow: &str) -> Output {
    let binary = Path::new(env!("CARGO_BIN_EXE_solstice"));
    let agent = binary.with_file_name(orchestrator::AGENT_NAME);
    assert!(agent.is_file(), "no agent at {}: `cargo build --workspace --bins` first", agent.display());
    let dir = crate::project(workflow);
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("images")).unwrap();
    std::os::unix::fs::symlink(testkit::vm::image(), state.join("images/linux-test")).unwrap();
    // passt drops to `nobody` as root and must reach its socket below the state dir.
    for path in [dir.path(), state.as_path()] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    }
    let mut command = Command::new("unshare");
    command.args(["-n", "--", "sh", "-c", &testkit::netns::shell_prefix(), "sh"]).arg(binary);
    command.args(["run", "--executor", "qemu", "workflow.yml"]).current_dir(dir.path()).stdin(Stdio::null());
    for (name, _) in std::env::vars_os().filter(|(n, _)| n.to_string_lossy().starts_with("SOLSTICE_")) {
        command.env_remove(name);
    }
    command.env("SOLSTICE_STATE_DIR", &state).env("SOLSTICE_ACCEL", "tcg");
    let output = command.output().unwrap();
    assert!(
        std::fs::read_dir(state.join("vm/run")).map(|mut d| d.next().is_none()).unwrap_or(true),
        "the VM's directory is removed when the run ends"
    );
    output
}

/// What follows `prefix` on the first stdout line that starts with it.
fn after<'a>(stdout: &'a str, prefix: &str) -> Option<&'a str> {
    stdout.lines().find_map(|line| line.strip_prefix(prefix))
}

#[test]
fn a_job_runs_in_a_vm_whose_hostname_is_its_job_id() {
    if unavailable().is_some() {
        return;
    }
    let output = run_in_vm(
        "on: push\njobs:\n  greet:\n    runs-on: linux-test\n    steps:\n      - run: echo \"guest hostname is $(hostname)\"\n",
    );
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let booting = after(&stdout, "[greet] vm booting linux-test (job ").expect("a vm booting line");
    let job_id = booting.split(',').next().unwrap();
    assert_eq!(job_id.len(), 26, "a ULID: {stdout}");
    assert!(stdout.lines().any(|line| line.starts_with("[greet] vm ready linux-test after ")), "{stdout}");
    assert_eq!(after(&stdout, "[greet] guest hostname is "), Some(job_id), "{stdout}");
    assert!(stdout.ends_with("[greet] job success\n"), "{stdout}");
}

#[test]
fn a_failing_step_in_a_vm_fails_the_run() {
    if unavailable().is_some() {
        return;
    }
    let output = run_in_vm("on: push\njobs:\n  broken:\n    runs-on: linux-test\n    steps:\n      - run: exit 3\n");
    assert_exit(&output, 1);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("[broken] --- Run exit 3: failure\n"), "{stdout}");
    assert!(stdout.contains("[broken] job failure\n"), "{stdout}");
}
