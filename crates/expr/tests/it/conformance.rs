//! GitHub's own conformance vectors (`actions/languageservices`, `expressions/*.json`), read from
//! where they live, never copied here. Each file maps a group name to cases of the form
//! `{expr, contexts?, result: {kind, value}}` or `{expr, contexts?, err: {kind, value}}`, where an
//! error's kind is `lexing`, `parsing` or `evaluation` and its value is (a prefix of) the message.

use std::path::PathBuf;

use expr::{MapContext, ParseOptions, Value};
use serde_json::Value as Json;

#[derive(Default)]
struct Tally {
    total: usize,
    passed: usize,
    errors_expected: usize,
    messages_exact: usize,
    failures: Vec<String>,
}

#[test]
fn github_expression_vectors() {
    let Some(dir) = testkit::conformance::actions_languageservices() else {
        eprintln!("conformance vectors not found, skipped (set SOLSTICE_CONFORMANCE_DIR)");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("expressions"))
        .expect("read the expressions directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vector files in {}", dir.display());

    let mut tally = Tally::default();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a vector file");
        let groups: serde_json::Map<String, Json> =
            serde_json::from_str(&text).expect("a vector file is a JSON object");
        let name = file.file_stem().unwrap_or_default().to_string_lossy();
        for (group, cases) in &groups {
            for case in cases.as_array().expect("a group is a list of cases") {
                run_case(&mut tally, &format!("{name}/{group}"), case);
            }
        }
    }
    eprintln!(
        "conformance: {}/{} passed; {} of {} expected errors with the exact message",
        tally.passed, tally.total, tally.messages_exact, tally.errors_expected
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} cases failed:\n{}",
        tally.failures.len(),
        tally.total,
        tally.failures.join("\n")
    );
}

fn run_case(tally: &mut Tally, label: &str, case: &Json) {
    tally.total += 1;
    let source = case["expr"].as_str().expect("expr is a string");
    let mut context = MapContext::default();
    if let Some(contexts) = case.get("contexts").and_then(Json::as_object) {
        for (name, value) in contexts {
            context.values.insert(name.clone(), Value::from(value));
        }
    }
    let options = ParseOptions::with_named_values(context.values.keys().cloned());
    let outcome = expr::parse_with(source, &options)
        .map_err(|e| ("parsing", e.message))
        .and_then(|parsed| expr::eval(&parsed, &context).map_err(|e| ("evaluation", e.message)));

    let verdict = match (case.get("err"), outcome) {
        (Some(err), Err((kind, message))) => {
            tally.errors_expected += 1;
            let want_kind = err["kind"].as_str().unwrap_or_default();
            let want = err["value"].as_str().unwrap_or_default();
            // GitHub's lexer errors are our parse errors: both come out of `parse`.
            let kind_ok = kind == want_kind || (kind == "parsing" && want_kind == "lexing");
            if message == want {
                tally.messages_exact += 1;
            } else {
                eprintln!("conformance: inexact message for {source:?}: want {want:?}, got {message:?}");
            }
            // GitHub's own runner checks that the message contains the expected text.
            if kind_ok && message.contains(want) {
                Ok(())
            } else {
                Err(format!("expected {want_kind} error {want:?}, got {kind} error {message:?}"))
            }
        }
        (Some(err), Ok(value)) => Err(format!("expected error {err}, got {value:?}")),
        (None, Err((kind, message))) => Err(format!("expected {}, got {kind} error {message:?}", case["result"])),
        (None, Ok(value)) => check_result(&case["result"], &value),
    };
    match verdict {
        Ok(()) => tally.passed += 1,
        Err(why) => tally.failures.push(format!("{label}: {source:?}: {why}")),
    }
}

fn check_result(expected: &Json, got: &Value) -> Result<(), String> {
    let kind = match got {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    };
    if expected["kind"] != kind || !same(&expected["value"], got) {
        return Err(format!("expected {expected}, got {got:?}"));
    }
    Ok(())
}

/// Deep equality, numbers compared as numbers (so 1 and 1.0 match) and NaN matching NaN.
fn same(expected: &Json, got: &Value) -> bool {
    match (expected, got) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Number(a), Value::Number(b)) => a.as_f64().is_some_and(|a| a == *b),
        (Json::String(s), Value::Number(n)) if s == "NaN" => n.is_nan(),
        (Json::String(a), Value::String(b)) => a == b,
        (Json::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Json::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => false,
    }
}
