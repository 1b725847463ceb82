//! The throw-away project a workflow runs in: a git repository like a user's, with the workflow
//! at `.github/workflows/<name>` and a README whose first line the checkout test looks for.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The first line of the project's `README.md`.
pub const README_LINE: &str = "solstice e2e fixture project";

/// Creates the project in `dir` and returns the workflow's path relative to it, as a user would
/// type it.
pub fn create(dir: &Path, file_name: &str, workflow: &str) -> Result<PathBuf, String> {
    let relative = Path::new(".github").join("workflows").join(file_name);
    let write = |path: &Path, text: &str| -> Result<(), String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(&dir.join("README.md"), &format!("{README_LINE}\n"))?;
    write(&dir.join(".gitignore"), "build/\n")?;
    write(&dir.join(&relative), workflow)?;
    git(dir, &["-c", "init.defaultBranch=main", "init", "--quiet"])?;
    git(dir, &["add", "--all"])?;
    git(
        dir,
        &[
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--message",
            "fixture",
        ],
    )?;
    // Left in the tree as a user's build would leave them: an ignored build output, which a
    // checkout must not carry, and a file not yet committed, which `solstice run` does carry.
    write(&dir.join("build").join("artifact.bin"), "ignored build output\n")?;
    write(&dir.join("notes.txt"), "not committed yet\n")?;
    Ok(relative)
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        // The developer's own git configuration (hooks, signing, templates) stays out of it.
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr)))
    }
}
