//! GitHub's workflow-parser conformance vectors (actions/languageservices): every case not in
//! `skipped-tests.txt` must be accepted or rejected as the reference parser does. Both modes
//! run: `Mode::GitHub` (GitHub's rules only) and the default `Mode::Solstice`, whose extra
//! product rules reject some workflows GitHub accepts — each such case is listed below with its
//! reason (and in docs/conformance.md). A listed case that starts to match fails the test too,
//! so the table stays true.

use std::path::Path;

use workflow::{Mode, ParseOptions};

/// Cases where `Mode::GitHub` still differs from the reference parser, and why.
const GITHUB_MODE_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "background-steps.yml",
        "experimental background/wait/cancel steps (behind a GitHub feature flag) are not supported",
    ),
    (
        "errors-reusable-workflow-job-inputs-required.yml",
        "checking a reusable workflow call needs the called workflow's file; Solstice mode rejects the call itself",
    ),
    (
        "errors-reusable-workflow-job-inputs-undefined.yml",
        "checking a reusable workflow call needs the called workflow's file; Solstice mode rejects the call itself",
    ),
    (
        "errors-reusable-workflow-job-secrets-required.yml",
        "checking a reusable workflow call needs the called workflow's file; Solstice mode rejects the call itself",
    ),
    (
        "errors-reusable-workflow-job-secrets-undefined.yml",
        "checking a reusable workflow call needs the called workflow's file; Solstice mode rejects the call itself",
    ),
];

/// Cases GitHub accepts that Solstice's product rules reject, and why.
const SOLSTICE_POLICY_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "background-steps.yml",
        "background/wait/cancel steps are not supported (and only actions/checkout among actions)",
    ),
    (
        "id-to-long.yml",
        "only `uses: actions/checkout@<ref>` is supported (it is built in); other actions are not run (here a docker:// action)",
    ),
    ("job-container.yml", "job-level `container:` is not supported: every job runs in a VM of its runs-on image"),
    ("job-services-args.yml", "`services:` are not supported"),
    ("job-services.yml", "`services:` are not supported"),
    ("reusable-workflow-inputs.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-job-basic.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-job-inputs-type-coercion.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-job-mvp.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-job-name.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-job-strategy.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-multiple.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-no-inputs.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    ("reusable-workflow-outputs.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    (
        "reusable-workflow-secrets-secret-without-definition.yml",
        "reusable workflow jobs (job-level `uses:`) are not supported",
    ),
    ("reusable-workflow-secrets.yml", "reusable workflow jobs (job-level `uses:`) are not supported"),
    (
        "step-id-generates-counter-per-collision.yml",
        "only `uses: actions/checkout@<ref>` is supported (it is built in); other actions are not run",
    ),
    (
        "step-id-generates-when-empty-and-considers-collisions.yml",
        "only `uses: actions/checkout@<ref>` is supported (it is built in); other actions are not run",
    ),
    (
        "step-id-generates-when-empty.yml",
        "only `uses: actions/checkout@<ref>` is supported (it is built in); other actions are not run",
    ),
    ("step-if.yml", "only `uses: actions/checkout@<ref>` is supported (it is built in); other actions are not run"),
    ("step-name.yml", "only `uses: actions/checkout@<ref>` is supported (it is built in); other actions are not run"),
];

struct Case {
    file: String,
    workflow: String,
    reject: bool,
    /// `(line, col)` of each expected error.
    positions: Vec<(usize, usize)>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let parser_dir = dir.join("workflow-parser");
    let skipped = std::fs::read_to_string(parser_dir.join("skipped-tests.txt")).unwrap_or_default();
    let skipped: Vec<&str> = skipped.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut names: Vec<String> = std::fs::read_dir(&parser_dir)
        .expect("read the workflow-parser dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".yml") && !skipped.contains(&n.as_str()))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(parser_dir.join(&name)).expect("read a case");
            let docs = split_documents(&text);
            assert!(docs.len() >= 3, "{name}: expected options, workflow and result documents");
            let expected = docs.last().map(String::as_str).unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(expected).unwrap_or(serde_json::Value::Null);
            let reject = json.get("errors").is_some() || expected.contains("\"errors\"");
            let positions = json
                .get("errors")
                .and_then(|e| e.as_array())
                .map(|errors| errors.iter().filter_map(|e| e.get("Message")?.as_str().and_then(position_of)).collect())
                .unwrap_or_default();
            Case { file: name, workflow: docs[1].clone(), reject, positions }
        })
        .collect()
}

fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(last) = docs.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    docs
}

/// `… (Line: 7, Col: 9): …` → (7, 9).
fn position_of(message: &str) -> Option<(usize, usize)> {
    let rest = message.split("(Line: ").nth(1)?;
    let (line, rest) = rest.split_once(", Col: ")?;
    let (col, _) = rest.split_once(')')?;
    Some((line.trim().parse().ok()?, col.trim().parse().ok()?))
}

struct Outcome {
    matched: usize,
    mismatched: Vec<String>,
    positions_matched: usize,
    rejected_total: usize,
}

fn run(cases: &[Case], mode: Mode) -> Outcome {
    let options = ParseOptions { mode };
    let mut out = Outcome { matched: 0, mismatched: Vec::new(), positions_matched: 0, rejected_total: 0 };
    for case in cases {
        let file = format!(".github/workflows/{}", case.file);
        let result = workflow::parse_with(&case.workflow, &file, &options);
        if result.is_err() == case.reject {
            out.matched += 1;
        } else {
            out.mismatched.push(case.file.clone());
        }
        if let (Err(e), true) = (&result, case.reject) {
            out.rejected_total += 1;
            let ours: Vec<(usize, usize)> = e.diagnostics.iter().filter_map(|d| Some((d.line?, d.column?))).collect();
            if !case.positions.is_empty() && case.positions.iter().all(|p| ours.contains(p)) {
                out.positions_matched += 1;
            }
        }
    }
    out
}

fn compare(mode: &str, outcome: &Outcome, exceptions: &[(&str, &str)], total: usize) {
    eprintln!(
        "conformance ({mode} mode): {}/{total} accept/reject matched, {} listed exceptions; error positions matched in {}/{} rejected cases",
        outcome.matched,
        exceptions.len(),
        outcome.positions_matched,
        outcome.rejected_total,
    );
    let listed: Vec<&str> = exceptions.iter().map(|(f, _)| *f).collect();
    let unexpected: Vec<&String> = outcome.mismatched.iter().filter(|f| !listed.contains(&f.as_str())).collect();
    let stale: Vec<&&str> = listed.iter().filter(|f| !outcome.mismatched.iter().any(|m| m == *f)).collect();
    assert!(unexpected.is_empty(), "{mode} mode: cases that differ from GitHub's parser: {unexpected:?}");
    assert!(stale.is_empty(), "{mode} mode: exceptions that no longer differ (remove them): {stale:?}");
}

#[test]
fn workflow_parser_vectors() {
    let Some(dir) = testkit::conformance::actions_languageservices() else {
        eprintln!("conformance vectors not found, skipped");
        return;
    };
    let cases = cases(&dir);
    assert!(!cases.is_empty(), "no conformance cases in {}", dir.display());
    let github = run(&cases, Mode::GitHub);
    let solstice = run(&cases, Mode::Solstice);
    compare("github", &github, GITHUB_MODE_EXCEPTIONS, cases.len());
    compare("solstice", &solstice, SOLSTICE_POLICY_EXCEPTIONS, cases.len());
}

#[test]
fn error_positions_parse() {
    assert_eq!(position_of("x.yml (Line: 7, Col: 9): Unexpected value 'runn'"), Some((7, 9)));
}
