//! `template_to_expr`: the conversions GitHub's workflow parser makes (the expected strings are
//! the ones in GitHub's workflow-parser vectors, e.g. `step-run.yml`), and that evaluating the
//! result gives the text with the values substituted — once.

use expr::{MapContext, Value};
use serde_json::json;

fn context() -> MapContext {
    let mut ctx = MapContext::default();
    ctx.values.insert("github".to_owned(), Value::from(json!({"sha": "abc123", "event_name": "push"})));
    ctx.values
        .insert("env".to_owned(), Value::from(json!({"TITLE": "fix ${{ github.sha }} and {0} and 'quotes'", "N": 3})));
    ctx
}

#[track_caller]
fn check(text: &str, expected: Option<&str>) {
    assert_eq!(expr::template_to_expr(text).unwrap().as_deref(), expected, "{text}");
}

#[track_caller]
fn check_error(text: &str, message: &str, position: usize) {
    let err = expr::template_to_expr(text).unwrap_err();
    assert_eq!((err.message.as_str(), err.position), (message, position), "{text}");
}

/// Converts and evaluates, as the engine does with a `run:` script.
fn render(text: &str) -> String {
    match expr::template_to_expr(text).unwrap() {
        None => text.to_owned(),
        Some(source) => expr::eval_str(&source, &context()).unwrap().to_coerced_string(),
    }
}

#[test]
fn conversions_match_githubs() {
    check("echo hello", None);
    check("echo $HOME {0} '}}'", None);
    check("${{ github.sha }}", Some("github.sha"));
    check("  ${{github.sha}}  ", Some("format('  {0}  ', github.sha)"));
    check("echo ${{ github.sha }}", Some("format('echo {0}', github.sha)"));
    check(
        "The ${{ github.event_name }} event triggered this step.",
        Some("format('The {0} event triggered this step.', github.event_name)"),
    );
    check("${{ github.sha }}${{ env.N }}", Some("format('{0}{1}', github.sha, env.N)"));
    check("it's {a} ${{ 1 }}", Some("format('it''s {{a}} {0}', 1)"));
    // A `}}` inside a string literal does not end the expression.
    check("${{ '${{ this is an escaped expression }}' }}", Some("'${{ this is an escaped expression }}'"));
    check("${{ 'it''s an escaped quote' }}", Some("'it''s an escaped quote'"));
    // Non-breaking space around the expression is trimmed (GitHub's bad-character.yml).
    check("${{ secrets.API_TOKEN\u{a0}}}", Some("secrets.API_TOKEN"));
}

#[test]
fn errors_match_githubs() {
    let not_closed =
        "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found.";
    check_error("echo ${{ github.event_name", not_closed, 6);
    check_error("${{ '}}' ", not_closed, 1);
    check_error("echo ${{ }}", "An expression was expected", 6);
    check_error(
        "${{ contains('a', 'b' }}",
        "Unexpected end of expression: ''b''. Located at position 15 within expression: contains('a', 'b'",
        15,
    );
    check_error(
        "ok ${{ 1 }} then ${{ 1 = 2 }}",
        "Unexpected symbol: '='. Located at position 3 within expression: 1 = 2",
        3,
    );
    // GitHub's errors-step-run-exceeds-length.yml: the whole converted expression must fit.
    let script = format!("echo ${{{{ github.sha }}}}\n{}", "x".repeat(21_000));
    check_error(&script, "Exceeded max expression length 21000", 0);
}

#[test]
fn evaluating_the_conversion_substitutes_the_values() {
    assert_eq!(render("sha=${{ github.sha }}, n=${{ env.N }}."), "sha=abc123, n=3.");
    assert_eq!(render("{braces} 'quotes' ${{ github.event_name }} }} {{"), "{braces} 'quotes' push }} {{");
    assert_eq!(render("${{ github.sha }}"), "abc123");
    assert_eq!(render("no expressions {0}"), "no expressions {0}");
}

#[test]
fn a_value_holding_an_expression_stays_text() {
    // A PR title (here env.TITLE) containing `${{` is data: it is substituted, never evaluated.
    assert_eq!(render("title: ${{ env.TITLE }}"), "title: fix ${{ github.sha }} and {0} and 'quotes'");
    assert_eq!(render("${{ env.TITLE }}"), "fix ${{ github.sha }} and {0} and 'quotes'");
    let value = expr::eval_str("format('{0}', env.TITLE)", &context()).unwrap();
    assert_eq!(value, Value::String("fix ${{ github.sha }} and {0} and 'quotes'".to_owned()));
}
