//! The end-to-end suite's workflows (`tests/workflows`): every runnable one parses and expands,
//! every broken one is refused with the words its header expects on stderr.

use std::path::{Path, PathBuf};

use crate::Fixture;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/workflows")
}

fn yml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Parses and expands every job; the diagnostics when anything is refused.
fn translate(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = format!(".github/workflows/{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let workflow = workflow::parse(&text, &name).map_err(|e| e.to_string())?;
    let fixture = Fixture::new();
    let any = |_: &str| true;
    let mut input = fixture.input();
    input.is_catalog_label = &any;
    let mut jobs = 0;
    for key in workflow.job_keys() {
        jobs += workflow::expand_job(&workflow, &key, &input).map_err(|e| e.to_string())?.len();
    }
    Ok(jobs)
}

#[test]
fn e2e_workflows_translate() {
    let files = yml_files(&dir());
    if files.is_empty() {
        eprintln!("tests/workflows not found, skipped");
        return;
    }
    for path in files {
        if let Err(e) = translate(&path) {
            panic!("{} should translate:\n{e}", path.display());
        }
    }
}

#[test]
fn e2e_broken_workflows_are_refused() {
    for path in yml_files(&dir().join("invalid")) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let err = match translate(&path) {
            Ok(_) => panic!("{} should be refused", path.display()),
            Err(e) => e,
        };
        for wanted in text.lines().filter_map(|l| l.strip_prefix("# stderr-has:")).map(str::trim) {
            assert!(err.contains(wanted), "{}: expected {wanted:?} in\n{err}", path.display());
        }
    }
}
