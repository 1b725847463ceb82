//! `hashFiles()` on this machine.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::host::HostError;

pub(super) fn hash_files(root: &Path, patterns: &[String]) -> Result<String, HostError> {
    let root = root.canonicalize().map_err(|e| HostError::io("resolve", root, e))?;
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for pattern in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        match pattern.strip_prefix('!') {
            Some(negated) => exclude.push(compile(&root, negated)?),
            None => include.push(root.join(pattern)),
        }
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in include {
        let text = pattern.to_string_lossy();
        let paths =
            glob::glob(&text).map_err(|e| HostError::Pattern { pattern: text.to_string(), reason: e.to_string() })?;
        for path in paths.flatten() {
            // Symlinks are followed, but whatever they lead to must stay inside the workspace.
            let Ok(real) = path.canonicalize() else { continue };
            if !real.starts_with(&root) || !real.is_file() {
                continue;
            }
            if exclude.iter().any(|p| p.matches_path(&path)) {
                continue;
            }
            files.push(path);
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut outer = Sha256::new();
    for file in &files {
        let mut inner = Sha256::new();
        let mut reader = std::fs::File::open(file).map_err(|e| HostError::io("open", file, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(|e| HostError::io("read", file, e))?;
            if n == 0 {
                break;
            }
            inner.update(&buf[..n]);
        }
        outer.update(inner.finalize());
    }
    Ok(outer.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn compile(root: &Path, pattern: &str) -> Result<glob::Pattern, HostError> {
    let full = root.join(pattern);
    glob::Pattern::new(&full.to_string_lossy())
        .map_err(|e| HostError::Pattern { pattern: pattern.to_owned(), reason: e.to_string() })
}
