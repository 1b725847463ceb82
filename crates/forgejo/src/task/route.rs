//! The one catalog label a task's job is routed by (`JobRequest.route_label`). The server has
//! already evaluated `runs-on` and matched it against the labels we declared; this checks the
//! shape Solstice needs: exactly one catalog label, every other entry a generic label.

use super::{TaskError, TranslateSettings};

pub(super) fn route_label(labels: &[String], settings: &TranslateSettings<'_>) -> Result<String, TaskError> {
    let mut served: Vec<String> = Vec::new();
    for label in labels.iter().filter(|l| settings.catalog_labels.contains(l)) {
        if !served.contains(label) {
            served.push(label.clone());
        }
    }
    let unknown: Vec<String> =
        labels.iter().filter(|l| !settings.catalog_labels.contains(l) && !is_generic(l, settings)).cloned().collect();
    match (served.as_slice(), unknown.is_empty()) {
        ([one], true) => Ok(one.clone()),
        ([], _) => Err(TaskError::NoServedLabel { labels: labels.to_vec(), serves: settings.catalog_labels.clone() }),
        ([_], false) => {
            Err(TaskError::UnknownLabels { labels: labels.to_vec(), unknown, serves: settings.catalog_labels.clone() })
        }
        (_, _) => Err(TaskError::SeveralServedLabels { labels: labels.to_vec(), served }),
    }
}

fn is_generic(label: &str, settings: &TranslateSettings<'_>) -> bool {
    workflow::is_generic(label) || settings.generic_labels.iter().any(|g| g.eq_ignore_ascii_case(label))
}
