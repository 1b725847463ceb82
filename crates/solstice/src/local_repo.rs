//! What `solstice run` knows about the local repository, asked of `git` when it is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The local working tree and its git facts; every field is empty when there is no repository
/// (or no `git`).
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalRepo {
    /// The git top-level, or the current directory when the file is not in a repository.
    pub root: PathBuf,
    /// `owner/name` from the `origin` remote; `None` without one.
    pub remote_repository: Option<String>,
    pub remote_url: String,
    pub sha: String,
    /// `refs/heads/<branch>`, empty when HEAD is detached.
    pub git_ref: String,
    /// Paths (relative to `root`) git ignores, such as `target/`: the checkout leaves them out,
    /// as a clone would not have them.
    pub ignored: Vec<PathBuf>,
}

impl LocalRepo {
    /// Looks around `workflow_dir` (the workflow file's directory).
    pub fn discover(workflow_dir: &Path) -> Self {
        let current = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let dir = if workflow_dir.as_os_str().is_empty() { current.clone() } else { workflow_dir.to_owned() };
        let Some(root) = git(&dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from) else {
            return LocalRepo { root: current, ..LocalRepo::default() };
        };
        let remote_url = git(&root, &["remote", "get-url", "origin"]).unwrap_or_default();
        LocalRepo {
            remote_repository: owner_and_name(&remote_url),
            remote_url,
            sha: git(&root, &["rev-parse", "--verify", "-q", "HEAD"]).unwrap_or_default(),
            git_ref: git(&root, &["symbolic-ref", "-q", "HEAD"]).unwrap_or_default(),
            ignored: ignored_paths(&root),
            root,
        }
    }

    /// `owner/name` as `github.repository` has it: from the remote, else `local/<directory>`.
    pub fn repository(&self) -> String {
        self.remote_repository.clone().unwrap_or_else(|| {
            let name = self.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            format!("local/{name}")
        })
    }
}

/// One line of `git` output, or `None` when git is missing, fails or prints nothing.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").arg("-C").arg(dir).args(args).stdin(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let line = text.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// What `git status` would not show: ignored files, and ignored directories as one entry each.
fn ignored_paths(root: &Path) -> Vec<PathBuf> {
    let args = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"];
    let Ok(output) = Command::new("git").arg("-C").arg(root).args(args).stdin(Stdio::null()).output() else {
        return Vec::new();
    };
    if !output.status.success() {
        return Vec::new();
    }
    output
        .stdout
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .map(|entry| PathBuf::from(entry.trim_end_matches('/')))
        .collect()
}

/// `owner/name` from `https://host/owner/name.git`, `git@host:owner/name.git` or a path.
fn owner_and_name(url: &str) -> Option<String> {
    let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = trimmed.rsplit(['/', ':']);
    let name = parts.next().filter(|s| !s.is_empty())?;
    let owner = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{owner}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::owner_and_name;

    #[test]
    fn owner_and_name_from_remote_urls() {
        for (url, expected) in [
            ("https://codeberg.org/solstice/ci.git", Some("solstice/ci")),
            ("git@github.com:solstice/ci.git", Some("solstice/ci")),
            ("https://github.com/solstice/ci/", Some("solstice/ci")),
            ("", None),
        ] {
            assert_eq!(owner_and_name(url).as_deref(), expected, "{url}");
        }
    }
}
