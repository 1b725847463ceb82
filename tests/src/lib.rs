//! Shared pieces of the end-to-end tests: the workflow header grammar (`tests/README.md`), the
//! throw-away project a workflow runs in, and one run of the real `solstice` binary.

pub mod expectation;
pub mod header;
pub mod pattern;
pub mod project;
pub mod solstice;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one `solstice run` may take. The slowest workflows wait for a one-minute
/// `timeout-minutes`; everything else takes seconds.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// `tests/workflows`, where the workflow files and the files they refer to live.
pub fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows")
}

/// The file a test named `name` (underscores for dashes) in `subdir` checks.
pub fn workflow_file(subdir: &str, name: &str) -> PathBuf {
    workflows_dir().join(subdir).join(format!("{}.yml", name.replace('_', "-")))
}

/// Runs the workflow file through `solstice run --executor local` in a fresh project and panics
/// with every expectation it breaks, plus the full stdout and stderr.
pub fn check_workflow(file: &Path) {
    if let Err(report) = try_check_workflow(file) {
        panic!("{}: {report}", file.display());
    }
}

fn try_check_workflow(file: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("cannot read the workflow file (is it missing?): {e}"))?;
    let header = header::parse(&text).map_err(|e| format!("bad header: {e}"))?;
    let binary = solstice::binary()?;

    let temp = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let project_dir = temp.path().join("project");
    let state_dir = temp.path().join("state");
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
    let file_name = file.file_name().and_then(|n| n.to_str()).ok_or("workflow file name is not UTF-8")?;
    let workflow = project::create(&project_dir, file_name, &text)?;

    let workflows = workflows_dir();
    let workflows = workflows.to_str().ok_or("tests/workflows path is not UTF-8")?;
    let mut args: Vec<String> = ["run", "--executor", "local"].map(String::from).into();
    args.extend(header.args.iter().map(|arg| arg.replace("{workflows}", workflows)));
    args.push(workflow.to_string_lossy().into_owned());
    let mut env = vec![("SOLSTICE_STATE_DIR".to_owned(), state_dir.to_string_lossy().into_owned())];
    env.extend(header.caller_env.iter().cloned());

    let invocation =
        solstice::Invocation { binary: &binary, args: &args, cwd: &project_dir, env: &env, timeout: RUN_TIMEOUT };
    let command_line = format!("(cd {} && solstice {})", project_dir.display(), args.join(" "));
    let output = solstice::run(&invocation).map_err(|e| format!("{command_line}\n{e}"))?;

    let mut failures = Vec::new();
    if output.code != Some(header.exit) {
        failures.push(format!("exit code {:?}, expected {}", output.code, header.exit));
    }
    failures.extend(header.expectations.iter().filter_map(|e| e.check(&output.stdout, &output.stderr).err()));
    if failures.is_empty() {
        return Ok(());
    }
    let mut report = format!("{} of its expectations failed\n", failures.len());
    for failure in &failures {
        let _ = writeln!(report, "  - {failure}");
    }
    let _ = writeln!(report, "documented at: {}", header.docs.join(" , "));
    let _ = writeln!(report, "command: {command_line} (took {:.1?})", output.elapsed);
    let _ = write!(report, "--- stdout:\n{}--- stderr:\n{}--- end", output.stdout, output.stderr);
    Err(report)
}
