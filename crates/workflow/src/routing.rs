//! `runs-on` → the one catalog label a job is routed by (`JobRequest.route_label`).

use serde_json::Value as Json;

/// Labels that describe a runner rather than name an image; any number may accompany the one
/// catalog label. Compared case-insensitively.
pub const GENERIC_LABELS: &[&str] =
    &["self-hosted", "linux", "x64", "x86_64", "amd64", "arm64", "illumos", "freebsd", "macos", "windows"];

pub fn is_generic(label: &str) -> bool {
    GENERIC_LABELS.iter().any(|g| g.eq_ignore_ascii_case(label))
}

/// The labels of an evaluated `runs-on`: a string, a list of strings, or `{group, labels}`.
pub(crate) fn labels(value: &Json) -> Result<Vec<String>, String> {
    match value {
        Json::String(s) if !s.is_empty() => Ok(vec![s.clone()]),
        Json::Array(items) => items
            .iter()
            .map(|i| match i {
                Json::String(s) if !s.is_empty() => Ok(s.clone()),
                other => Err(format!("runs-on entries must be non-empty strings, found {other}")),
            })
            .collect(),
        Json::Object(map) => match map.get("labels") {
            Some(labels) => self::labels(labels),
            None => Err("runs-on names only a runner group; Solstice routes by a catalog label in 'labels'".into()),
        },
        other => Err(format!("runs-on must be a label or a list of labels, found {other}")),
    }
}

/// Exactly one label that is not generic, and it must be in the catalog.
pub(crate) fn route_label(labels: &[String], is_catalog_label: &dyn Fn(&str) -> bool) -> Result<String, String> {
    let specific: Vec<&String> = labels.iter().filter(|l| !is_generic(l)).collect();
    match specific.as_slice() {
        [] => Err(format!(
            "runs-on [{}] names no image: add exactly one catalog label (generic labels like 'self-hosted' do not pick an image)",
            labels.join(", ")
        )),
        [one] if is_catalog_label(one) => Ok((*one).clone()),
        [one] => Err(format!("runs-on label '{one}' is not in the image catalog (see `solstice images list`)")),
        many => Err(format!(
            "runs-on names {} non-generic labels ({}); exactly one must be a catalog label, the others generic",
            many.len(),
            many.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ")
        )),
    }
}
