//! Runner labels as forgejo-runner writes them: `name[:schema[:argument]]`, e.g.
//! `ubuntu-latest:docker://node:20-bookworm` or `self-hosted:host` (forgejo.md §6). Forgejo only
//! ever sees the name; the schema chooses an execution environment in forgejo-runner, which we
//! do not have (every job runs in a VM of the catalog label), so it is accepted and dropped.

/// A label that cannot be sent to Forgejo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("read the label {0:?}: its name is empty")]
    EmptyName(String),
    #[error("read the label {0:?}: a name may not contain white space or commas")]
    BadName(String),
}

/// The name part of one label, trimmed.
pub fn label_name(label: &str) -> Result<String, LabelError> {
    let label = label.trim();
    let name = label.split(':').next().unwrap_or_default();
    if name.is_empty() {
        return Err(LabelError::EmptyName(label.to_owned()));
    }
    if name.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(LabelError::BadName(label.to_owned()));
    }
    Ok(name.to_owned())
}

/// The names of `labels` in their order, each once; empty entries (as `a,,b` gives) are skipped.
pub fn label_names<S: AsRef<str>>(labels: &[S]) -> Result<Vec<String>, LabelError> {
    let mut names: Vec<String> = Vec::new();
    for label in labels.iter().map(AsRef::as_ref).filter(|label| !label.trim().is_empty()) {
        let name = label_name(label)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}
