//! Expression text is input: whatever it is, parsing, evaluating and converting templates must
//! return, never panic or overflow the stack.

use expr::{MapContext, Value};
use proptest::prelude::*;
use serde_json::json;

fn context() -> MapContext {
    let mut ctx = MapContext::default();
    let value = Value::from(json!({"a": [1, "two", {"b": null}], "B": {"c": true}, "n": 1.5}));
    ctx.values.insert("github".to_owned(), value.clone());
    ctx.values.insert("matrix".to_owned(), value);
    ctx
}

/// Pieces of the expression language, so that random sequences often get deep into the parser
/// and evaluator rather than failing on the first character.
const ALPHABET: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ".",
    ",",
    "*",
    "!",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    " ",
    "'",
    "''",
    "'x'",
    "'{0}'",
    "'{{'",
    "'}'",
    "0",
    "1",
    "-1",
    ".5",
    "0x1f",
    "1e3",
    "NaN",
    "Infinity",
    "true",
    "false",
    "null",
    "github",
    "matrix",
    "a",
    "B",
    "c",
    "n",
    "nosuch",
    "contains(",
    "startsWith(",
    "endsWith(",
    "format(",
    "join(",
    "toJSON(",
    "fromJSON(",
    "case(",
    "success()",
    "always()",
    "hashFiles(",
    "${{",
    "}}",
    "=",
    "&",
    "|",
    "é",
    "\u{1F600}",
    "\n",
];

fn alphabet_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..60).prop_map(|parts| parts.concat())
}

fn exercise(text: &str) {
    let ctx = context();
    if let Ok(parsed) = expr::parse(text) {
        let _ = expr::eval(&parsed, &ctx);
        let _ = (parsed.named_contexts(), parsed.functions(), parsed.has_status_function());
    }
    let _ = expr::eval_str(text, &ctx);
    if let Ok(Some(converted)) = expr::template_to_expr(text) {
        // Whatever template_to_expr returns must itself parse.
        assert!(expr::parse(&converted).is_ok(), "{converted:?} from {text:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn expression_like_text_never_panics(text in alphabet_text()) {
        exercise(&text);
    }

    #[test]
    fn templates_substitute_exactly_once(
        before in "[^$]{0,20}",
        value in any::<String>(),
        after in "[^$]{0,20}",
    ) {
        // Text around an expression comes back verbatim, whatever quotes or braces it holds,
        // and the value is inserted as it is, even when it looks like an expression.
        let mut ctx = MapContext::default();
        ctx.values.insert("env".to_owned(), Value::from(json!({"V": value.clone()})));
        let template = format!("{before}${{{{ env.V }}}}{after}");
        let converted = expr::template_to_expr(&template).unwrap().unwrap();
        let result = expr::eval_str(&converted, &ctx).unwrap();
        prop_assert_eq!(result.to_coerced_string(), format!("{before}{value}{after}"));
    }
}
