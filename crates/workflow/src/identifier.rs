//! Job and step identifiers: which are valid, and the ids GitHub's parser generates for steps
//! without one (`__run`, `__run_2`, `__actions_checkout`).

use std::collections::HashSet;

const MAX_LENGTH: usize = 100;

/// Why `id` cannot be a job or step id, if it cannot.
pub(crate) fn invalid(id: &str) -> Option<String> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !first_ok || !rest_ok || id.chars().count() >= MAX_LENGTH {
        return Some(format!(
            "The identifier '{id}' is invalid. IDs may only contain alphanumeric characters, '_', and '-'. \
             IDs must start with a letter or '_' and and must be less than {MAX_LENGTH} characters."
        ));
    }
    if id.starts_with("__") {
        return Some(format!("The identifier '{id}' is invalid. IDs starting with '__' are reserved."));
    }
    None
}

/// The step ids of one job: explicit ones first, then generated ones that avoid them.
#[derive(Default)]
pub(crate) struct StepIds {
    taken: HashSet<String>,
}

impl StepIds {
    /// Records an explicit `id:`; the reason when it is invalid or already used.
    pub fn add_known(&mut self, id: &str) -> Result<(), String> {
        if let Some(reason) = invalid(id) {
            return Err(reason);
        }
        if !self.taken.insert(id.to_string()) {
            return Err(format!("The identifier '{id}' may not be used more than once within the same scope."));
        }
        Ok(())
    }

    /// A fresh id `__<base>`, with `_2`, `_3`… on collision; characters outside `[A-Za-z0-9_-]`
    /// become `_`.
    pub fn generate(&mut self, base: &str) -> String {
        let segment = format!("__{base}");
        let original: String =
            segment.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        // Among `taken.len() + 1` candidates at least one is free (pigeonhole).
        let mut candidate = original.clone();
        for attempt in 1..=self.taken.len() + 1 {
            let suffix = if attempt == 1 { String::new() } else { format!("_{attempt}") };
            let keep = original.chars().count().min(MAX_LENGTH.saturating_sub(suffix.len()));
            candidate = original.chars().take(keep).chain(suffix.chars()).collect();
            if !self.taken.contains(&candidate) {
                break;
            }
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

/// The base GitHub derives from a `uses:` value for a generated step id.
pub(crate) fn action_base(uses: &str) -> String {
    if let Some(image) = uses.strip_prefix("docker://") {
        return image.to_string();
    }
    if uses.starts_with("./") || uses.starts_with(".\\") || uses.starts_with("$/") {
        return "self".into();
    }
    let parts: Vec<&str> = uses.split('@').collect();
    let [path, git_ref] = parts.as_slice() else { return "run".into() };
    let segments: Vec<&str> = path.split(['/', '\\']).filter(|s| !s.is_empty()).collect();
    if segments.len() >= 2 && !git_ref.is_empty() { format!("{}/{}", segments[0], segments[1]) } else { "run".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids() {
        let mut ids = StepIds::default();
        assert_eq!(ids.generate(&action_base("actions/checkout@v4")), "__actions_checkout");
        assert_eq!(ids.generate("run"), "__run");
        assert_eq!(ids.generate("run"), "__run_2");
        assert_eq!(ids.generate(&action_base("docker://alpine:latest")), "__alpine_latest");
        assert!(invalid("0job").is_some());
        assert!(invalid("__x").is_some());
        assert!(invalid("_x-1").is_none());
    }
}
