//! `hashFiles()` in the guest, computed the way [`engine::LocalHost`] computes it: the guest
//! lists the regular files under the root (`find`), the patterns are matched here, and each
//! matching file is read with `cat` and hashed here, so the guest needs no hashing tool.
//! Difference: `find` does not follow symlinks, so a file reached only through one is not
//! hashed (the local host follows links that stay inside the workspace).

use std::path::{Path, PathBuf};

use engine::HostError;
use glob::{MatchOptions, Pattern};
use sha2::{Digest, Sha256};

use super::command;
use super::quote::quote_path;
use crate::ssh::Session;

pub(crate) async fn hash_files(session: &Session, root: &Path, patterns: &[String]) -> Result<String, HostError> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for pattern in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        match pattern.strip_prefix('!') {
            Some(negated) => exclude.push(compile(root, negated)?),
            None => include.push(compile(root, pattern)?),
        }
    }
    if include.is_empty() {
        return Ok(String::new());
    }
    let listing = command::check(session, &format!("cd {} && find . -type f", quote_path(root)), b"").await?;
    // `*` stops at `/` when including, as walking the directories does locally; exclusions
    // match across directories, as they do locally.
    let walk = MatchOptions { require_literal_separator: true, ..MatchOptions::new() };
    let mut files: Vec<PathBuf> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("./"))
        .map(|relative| root.join(relative))
        .filter(|path| include.iter().any(|p| p.matches_path_with(path, walk)))
        .filter(|path| !exclude.iter().any(|p| p.matches_path(path)))
        .collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut outer = Sha256::new();
    for file in &files {
        let contents = command::check(session, &format!("exec cat {}", quote_path(file)), b"").await?;
        outer.update(Sha256::digest(&contents.stdout));
    }
    Ok(outer.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn compile(root: &Path, pattern: &str) -> Result<Pattern, HostError> {
    Pattern::new(&root.join(pattern).to_string_lossy())
        .map_err(|e| HostError::Pattern { pattern: pattern.to_owned(), reason: e.to_string() })
}
