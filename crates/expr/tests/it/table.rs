//! Hand-written expectations, each taken from GitHub's documentation page "Evaluate expressions
//! in workflows and actions" (docs.github.com/en/actions/reference/workflows-and-actions/
//! expressions); the section is named above each table.

use expr::{Context, JobStatus, MapContext, ParseOptions, Value};
use serde_json::json;

fn context() -> MapContext {
    let mut ctx = MapContext::default();
    let values = [
        (
            "github",
            json!({
                "ref": "refs/heads/main",
                "event_name": "push",
                "sha": "abc123",
                "event": {"issue": {"labels": [{"name": "bug"}, {"name": "help wanted"}]}}
            }),
        ),
        (
            "fruits",
            json!([
                {"name": "apple", "quantity": 1},
                {"name": "orange", "quantity": 2},
                {"name": "pear", "quantity": 1}
            ]),
        ),
        ("env", json!({"Mixed_Case": "yes", "EMPTY": ""})),
        ("matrix", json!({"os": "illumos", "version": 3})),
        ("vars", json!({"obj": {}, "arr": []})),
    ];
    for (name, value) in values {
        ctx.values.insert(name.to_owned(), Value::from(value));
    }
    ctx
}

#[track_caller]
fn check(input: &str, expected: Value) {
    check_in(&context(), input, expected);
}

#[track_caller]
fn check_in(ctx: &dyn Context, input: &str, expected: Value) {
    match expr::eval_str(input, ctx) {
        Ok(got) => assert_eq!(got, expected, "{input}"),
        Err(e) => panic!("{input}: unexpected error: {e}"),
    }
}

#[track_caller]
fn check_error(input: &str, expected_message: &str) {
    match expr::eval_str(input, &context()) {
        Ok(got) => panic!("{input}: expected an error, got {got:?}"),
        Err(e) => assert_eq!(e.message, expected_message, "{input}"),
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn n(number: f64) -> Value {
    Value::Number(number)
}

const T: Value = Value::Bool(true);
const F: Value = Value::Bool(false);

#[test]
fn literals() {
    // § Literals: boolean, null, number (any JSON number format, hex, exponent), string with
    // '' for a single quote.
    check("true", T);
    check("null", Value::Null);
    check("711", n(711.0));
    check("-9.2", n(-9.2));
    check("0xff", n(255.0));
    check("-2.99e-2", n(-0.0299));
    check("'Mona the Octocat'", s("Mona the Octocat"));
    check("'It''s open source!'", s("It's open source!"));
    // Empty expression: nothing to evaluate.
    check("", Value::Null);
}

#[test]
fn loose_equality_coerces_to_numbers() {
    // § Operators: "If the types do not match, GitHub coerces the type to a number":
    // null → 0, true → 1, false → 0, '' → 0, other strings parsed or NaN, arrays and objects NaN.
    for (input, expected) in [
        ("null == 0", T),
        ("null == false", T),
        ("true == 1", T),
        ("false == 0", T),
        ("'' == 0", T),
        ("'' == false", T),
        ("' 42 ' == 42", T),
        ("'0x10' == 16", T),
        ("'abc' == 0", F),
        ("'1' == true", T),
        ("vars.arr == 0", F),
        ("vars.obj == vars.obj", T),
        ("vars.obj == fromJSON('{}')", F),
        ("null == null", T),
        ("null == ''", T),
    ] {
        check(input, expected);
    }
}

#[test]
fn nan_and_strings() {
    // § Operators: "A comparison of one NaN to another NaN does not result in true";
    // "GitHub ignores case when comparing strings".
    check("NaN == NaN", F);
    check("NaN != NaN", T);
    check("'abc' == 'ABC'", T);
    check("'abc' < 'ABD'", T);
    check("'b' > 'A'", T);
    check("1 < 2", T);
    check("2 <= 2", T);
    check("'10' > 9", T);
    check("null >= 0", T);
    check("null > null", F);
    check("null >= null", T);
}

#[test]
fn logical_operators_return_operands() {
    // § Operators: `&&` and `||` return one of their operands, which gives the documented
    // ternary idiom `cond && 'a' || 'b'`.
    check("1 && 'x'", s("x"));
    check("0 && 'x'", n(0.0));
    check("'' || 'fallback'", s("fallback"));
    check("null || 0", n(0.0));
    check(
        "github.ref == 'refs/heads/main' && 'value_for_main_branch' || 'value_for_other_branches'",
        s("value_for_main_branch"),
    );
    check(
        "github.ref == 'refs/heads/dev' && 'value_for_main_branch' || 'value_for_other_branches'",
        s("value_for_other_branches"),
    );
    // Short-circuit: the right side is not evaluated (it would fail).
    check("false && fromJSON('not json')", F);
    check("true || fromJSON('not json')", T);
    check("!0", T);
    check("!'false'", F);
    // Precedence: `!` over comparisons over `==` over `&&` over `||`.
    check("!1 == 0", T);
    check("1 < 2 == true", T);
    check("true || false && false", T);
    check("(true || false) && false", F);
}

#[test]
fn properties_and_indexes() {
    // § Contexts / object filters: property syntax, index syntax, case-insensitive names.
    check("github.sha", s("abc123"));
    check("GITHUB.SHA", s("abc123"));
    check("github['event_name']", s("push"));
    check("env.mixed_case", s("yes"));
    check("matrix.version", n(3.0));
    check("github.nope", Value::Null);
    check("github.nope.deeper", Value::Null);
    check("fromJSON('[1,2]')[1] == 2", T);
    check("fromJSON('[1,2]')[5]", Value::Null);
    check("fromJSON('[1,2]')[-1]", Value::Null);
    // § Object filters: `fruits.*.name` returns [ "apple", "orange", "pear" ].
    check("fruits.*.name", Value::Array(vec![s("apple"), s("orange"), s("pear")]));
    check("fruits.*.missing", Value::Array(vec![]));
}

#[test]
fn functions() {
    // § Functions, with the documentation's own examples.
    check("contains('Hello world', 'llo')", T);
    check("contains('Hello world', 'LLO')", T);
    check("contains(github.event.issue.labels.*.name, 'bug')", T);
    check("contains(fromJSON('[\"push\", \"pull_request\"]'), github.event_name)", T);
    check("contains(fromJSON('[\"push\"]'), 'pull')", F);
    check("startsWith('Hello world', 'He')", T);
    check("endsWith('Hello world', 'ld')", T);
    check("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", s("Hello Mona the Octocat"));
    check("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", s("{Hello Mona the Octocat!}"));
    check("format('{0}', null)", s(""));
    check("format('{0}|{1}|{2}', true, 1.50, fruits)", s("true|1.5|Array"));
    check("join(github.event.issue.labels.*.name, ', ')", s("bug, help wanted"));
    check("join(fromJSON('[1,2,3]'))", s("1,2,3"));
    check("toJSON(matrix)", s("{\n  \"os\": \"illumos\",\n  \"version\": 3\n}"));
    check("toJSON('a\"b')", s("\"a\\\"b\""));
    check("fromJSON('{\"a\": [true, null]}').a[0]", T);
    check("fromJSON('1.5')", n(1.5));
    check("case(matrix.os == 'illumos', 'sun', 'other')", s("sun"));
}

#[test]
fn status_functions() {
    // § Status check functions: success(), always(), cancelled(), failure().
    let mut ctx = context();
    for (status, success, failure, cancelled) in
        [(JobStatus::Success, T, F, F), (JobStatus::Failure, F, T, F), (JobStatus::Cancelled, F, F, T)]
    {
        ctx.status = status;
        check_in(&ctx, "success()", success.clone());
        check_in(&ctx, "failure()", failure.clone());
        check_in(&ctx, "cancelled()", cancelled.clone());
        check_in(&ctx, "always()", T);
        check_in(&ctx, "SUCCESS()", success);
    }
}

#[test]
fn status_functions_naming_needed_jobs() {
    // A job-level `if:` may pass job ids: `success('build')` looks only at those needs
    // (GitHub's workflow parser accepts it; see its job-if conformance case).
    let mut ctx = context();
    let needs = serde_json::json!({
        "build": { "result": "success", "outputs": {} },
        "lint": { "result": "failure", "outputs": {} },
    });
    ctx.values.insert("needs".into(), Value::from(&needs));
    ctx.status = JobStatus::Failure;
    check_in(&ctx, "success('build')", T);
    check_in(&ctx, "success('build', 'lint')", F);
    check_in(&ctx, "failure('lint')", T);
    check_in(&ctx, "failure('build')", F);
    check_in(&ctx, "success('missing')", F);
}

struct Hashing;

impl Context for Hashing {
    fn named(&self, _name: &str) -> Option<Value> {
        None
    }
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        if patterns.iter().any(|p| p == "broken") {
            return Err("hashFiles('broken') failed".to_owned());
        }
        Ok(format!("hash of {}", patterns.join("+")))
    }
}

#[test]
fn hash_files_asks_the_context() {
    // § hashFiles: patterns are passed on; the context computes the hash.
    check_in(
        &Hashing,
        "hashFiles('**/package-lock.json', '**/Gemfile.lock')",
        s("hash of **/package-lock.json+**/Gemfile.lock"),
    );
    let err = expr::eval_str("hashFiles('broken')", &Hashing).unwrap_err();
    assert_eq!(err.message, "hashFiles('broken') failed");
    let err = expr::eval_str("hashFiles('x')", &context()).unwrap_err();
    assert_eq!(err.message, "hashFiles is not available here");
}

#[test]
fn errors_use_githubs_wording() {
    check_error(
        "nosuch.foo",
        "Unrecognized named-value: 'nosuch'. Located at position 1 within expression: nosuch.foo",
    );
    check_error("1 < )", "Unexpected symbol: ')'. Located at position 5 within expression: 1 < )");
    check_error("1 <", "Unexpected end of expression: '<'. Located at position 3 within expression: 1 <");
    check_error("'open", "Unexpected symbol: ''open'. Located at position 1 within expression: 'open");
    check_error("foo()", "Unrecognized function: 'foo'. Located at position 1 within expression: foo()");
    check_error("format('{0}')", "The following format string references more arguments than were supplied: {0}");
    check_error("format('{x}', 1)", "The following format string is invalid: {x}");
    check_error("case(1, 'a', 'b')", "case predicate must evaluate to a boolean value");
    assert!(expr::eval_str("fromJSON('{')", &context()).unwrap_err().message.starts_with("Error parsing fromJson"));
    // A parse can be told which contexts exist, as GitHub's workflow validation does.
    let options = ParseOptions::with_named_values(["github"]);
    let err = expr::parse_with("github.sha && secrets.token", &options).unwrap_err();
    assert_eq!(
        err.message,
        "Unrecognized named-value: 'secrets'. Located at position 15 within expression: github.sha && secrets.token"
    );
    assert_eq!(err.position, 15);
}

#[test]
fn numbers_print_as_github_prints_them() {
    // § Operators (coercion) and format(): GitHub prints up to 15 significant digits, whole
    // numbers without a fraction, and switches to exponent notation outside 1e-4..1e15.
    for (number, text) in [
        (1.0, "1"),
        (-2.0, "-2"),
        (-0.0, "0"),
        (0.5, "0.5"),
        (123456.789, "123456.789"),
        (0.1 + 0.2, "0.3"),
        (0.0001, "0.0001"),
        (0.00001, "1E-05"),
        (123_456_789_012_345.0, "123456789012345"),
        (1e15, "1E+15"),
        (1.5e300, "1.5E+300"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(Value::Number(number).to_coerced_string(), text, "{number}");
    }
    check("format('{0}', 1.2e2)", s("120"));
    check("toJSON(fromJSON('[1, 2.5, -0]'))", s("[\n  1,\n  2.5,\n  0\n]"));
}

#[test]
fn value_methods() {
    // § Operators, truthiness as `!` sees it: false, 0, -0, NaN, '' and null are falsy.
    for falsy in [Value::Null, F, n(0.0), n(-0.0), n(f64::NAN), s("")] {
        assert!(!falsy.is_truthy(), "{falsy:?}");
    }
    for truthy in [T, n(0.5), s("false"), Value::Array(vec![]), Value::Object(Default::default())] {
        assert!(truthy.is_truthy(), "{truthy:?}");
    }
    assert_eq!(Value::Null.to_coerced_string(), "");
    assert_eq!(Value::Array(vec![]).to_coerced_string(), "Array");
    assert_eq!(Value::Object(Default::default()).to_coerced_string(), "Object");

    let object = Value::from(json!({"Key": 1, "nested": {"a": [1, 2.5, null]}}));
    assert_eq!(object.get("key"), Some(&n(1.0)));
    assert_eq!(object.get("KEY"), Some(&n(1.0)));
    assert_eq!(object.get("other"), None);
    assert_eq!(s("x").get("x"), None);
    assert_eq!(object.to_json(), json!({"Key": 1, "nested": {"a": [1, 2.5, null]}}));
    assert_eq!(n(f64::NAN).to_json(), json!(null));
    assert_eq!(n(3.0).to_json().to_string(), "3");
}

#[test]
fn expression_introspection() {
    let parsed = expr::parse("contains(GitHub.ref, matrix.os) && Success() || github.x").unwrap();
    assert_eq!(parsed.named_contexts(), ["github", "matrix"]);
    assert_eq!(parsed.functions(), ["contains", "success"]);
    assert!(parsed.has_status_function());
    let parsed = expr::parse("github.event_name == 'push'").unwrap();
    assert!(!parsed.has_status_function());
    assert!(parsed.functions().is_empty());
    assert_eq!(parsed.to_string(), "github.event_name == 'push'");
}

#[test]
fn limits_are_errors_not_crashes() {
    // GitHub's limits: 50 levels of nesting, 21,000 characters.
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(expr::parse(&deep).unwrap_err().message, "Exceeded max expression depth 50");
    let nots = format!("{}true", "!".repeat(5_000));
    assert_eq!(expr::parse(&nots).unwrap_err().message, "Exceeded max expression depth 50");
    let chain = vec!["1"; 3_000].join(" == ");
    assert_eq!(expr::parse(&chain).unwrap_err().message, "Exceeded max expression depth 50");
    let long = format!("'{}'", "a".repeat(21_000));
    assert_eq!(expr::parse(&long).unwrap_err().message, "Exceeded max expression length 21000");
    let ok = format!("'{}'", "a".repeat(20_998));
    assert!(expr::parse(&ok).is_ok());
    // A flat chain of thousands of `&&` is not deep.
    let flat = vec!["1"; 2_000].join(" && ");
    check(&flat, n(1.0));
    // Results that would grow past the memory bound fail instead of allocating.
    let big = format!("format('{}', format('{}', '{}'))", "{0}".repeat(300), "{0}".repeat(300), "x".repeat(100));
    assert_eq!(expr::eval_str(&big, &context()).unwrap_err().message, "The maximum allowed memory size was exceeded");
}

#[test]
fn deep_json_is_an_error_not_a_crash() {
    // fromJSON input is data from outside; nesting beyond what the JSON reader accepts fails.
    let deep = format!("fromJSON('{}{}')", "[".repeat(5_000), "]".repeat(5_000));
    let err = expr::eval_str(&deep, &context()).unwrap_err();
    assert!(err.message.starts_with("Error parsing fromJson"), "{}", err.message);
}

#[test]
fn parsed_expressions_cross_threads() {
    // The engine keeps parsed expressions across await points.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<expr::Expr>();
    assert_send_sync::<Value>();
    assert_send_sync::<expr::ParseError>();
    assert_send_sync::<expr::EvalError>();
}
