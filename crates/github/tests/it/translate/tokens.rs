//! TemplateTokens, PipelineContextData and the job-level fields of a hand-written message.

use contract::{ForgeKind, StepKind, Template};
use github::message::{MessageError, Path, Problem, Token, context_data};
use serde_json::{Number, Value, json};

use super::{JOB_ID, PLAN_ID, message, pascal_case, run};

fn token(value: Value) -> Result<Token, MessageError> {
    Token::parse(&value, &Path::root("t"))
}

#[test]
fn every_template_token_type_decodes() {
    let string = |s: &str| Token::String(s.into());
    let cases = [
        (json!("bare"), string("bare")),
        (json!(true), Token::Bool(true)),
        (json!(2.5), Token::Number(Number::from_f64(2.5).unwrap())),
        (Value::Null, Token::Null),
        (json!({"type": 0, "lit": "x", "file": 1, "line": 3, "col": 7}), string("x")),
        (json!({"lit": "no type is a string"}), string("no type is a string")),
        (
            json!({"type": 1, "seq": ["a", {"type": 5, "bool": false}]}),
            Token::Sequence(vec![string("a"), Token::Bool(false)]),
        ),
        (
            json!({"type": 2, "map": [{"Key": "k", "Value": {"type": 7}}, {"key": {"type": 0, "lit": "k2"}, "value": 1}]}),
            Token::Mapping(vec![(string("k"), Token::Null), (string("k2"), Token::Number(1.into()))]),
        ),
        (json!({"type": 3, "expr": "matrix.os"}), Token::Expression("matrix.os".into())),
        (json!({"type": 5, "bool": true}), Token::Bool(true)),
        (json!({"type": 6, "num": 42}), Token::Number(42.into())),
        (json!({"type": 7}), Token::Null),
        (json!({"Type": 3, "Expr": "github.sha"}), Token::Expression("github.sha".into())),
    ];
    for (input, expected) in cases {
        assert_eq!(token(input.clone()).unwrap(), expected, "{input}");
    }
}

#[test]
fn malformed_tokens_are_refused_naming_the_field() {
    let cases = [
        (json!({"type": 4, "directive": "insert"}), "t", Problem::InsertDirective),
        (json!({"type": 9}), "t.type", Problem::UnknownType { what: "template token", found: "9".into() }),
        (json!({"type": 3}), "t.expr", Problem::Missing),
        (json!({"type": 5, "bool": "yes"}), "t.bool", Problem::WrongType { expected: "a boolean", found: "a string" }),
        (json!({"type": 2, "map": [{"Key": "a", "Value": 1}, {"Key": "b"}]}), "t.map[1].Value", Problem::Missing),
        (
            json!({"type": 1, "seq": [1, {"type": 2, "map": [{"Key": "a", "Value": {"type": 4}}]}]}),
            "t.seq[1].map[0].Value",
            Problem::InsertDirective,
        ),
        (json!([1, 2]), "t", Problem::WrongType { expected: "a template token", found: "a list" }),
    ];
    for (input, field, problem) in cases {
        assert_eq!(token(input.clone()), Err(MessageError { field: field.into(), problem }), "{input}");
    }
    let insert = token(json!({"type": 4, "directive": "insert"})).unwrap_err();
    assert_eq!(
        insert.to_string(),
        "read `t` of the job message: template insert directives (`${{ insert }}`) are not supported"
    );
}

#[test]
fn every_context_data_type_becomes_json() {
    let cases = [
        (json!("bare"), json!("bare")),
        (json!(false), json!(false)),
        (json!(1.5), json!(1.5)),
        (Value::Null, Value::Null),
        (json!({"s": "no t is a string"}), json!("no t is a string")),
        (json!({"t": 0, "s": "s"}), json!("s")),
        (json!({"t": 1, "a": ["x", {"t": 4, "n": 2}]}), json!(["x", 2])),
        (
            json!({"t": 2, "d": [{"k": "a", "v": 1}, {"k": "b", "v": {"t": 1}}, {"k": "a", "v": 3}]}),
            json!({"a": 3, "b": []}),
        ),
        (json!({"t": 3, "b": true}), json!(true)),
        (json!({"t": 4, "n": 7}), json!(7)),
        (json!({"t": 5, "d": [{"k": "Case", "v": "kept"}]}), json!({"Case": "kept"})),
        (json!({"T": 2, "D": [{"K": "upper", "V": "ok"}]}), json!({"upper": "ok"})),
    ];
    for (input, expected) in cases {
        assert_eq!(context_data(&input, &Path::root("c")).unwrap(), expected, "{input}");
    }
    let wrong = context_data(&json!({"t": 2, "d": [{"k": 5, "v": 1}]}), &Path::root("c")).unwrap_err();
    assert_eq!(wrong.field, "c.d[0].k");
    let unknown = context_data(&json!({"t": 6}), &Path::root("c")).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "read `c.t` of the job message: context data type 6 is not one the runner protocol defines"
    );
}

/// 150 levels: far beyond the limit, still shallow enough for serde_json to drop the value
/// (its drop recurses, and a parsed message never nests deeper than its parser's 128 levels).
#[test]
fn nesting_beyond_the_limit_is_refused_not_overflowed() {
    let mut deep = json!("leaf");
    for _ in 0..150 {
        deep = json!({"type": 1, "seq": [deep]});
    }
    assert_eq!(token(deep).unwrap_err().problem, Problem::TooDeep);
    let mut deep = json!("leaf");
    for _ in 0..150 {
        deep = json!({"t": 1, "a": [deep]});
    }
    assert_eq!(context_data(&deep, &Path::root("c")).unwrap_err().problem, Problem::TooDeep);
}

#[test]
fn the_job_fields_become_the_request_and_the_context() {
    let translated = run(&message()).unwrap();
    let request = &translated.request;
    assert_eq!(request.origin.forge, ForgeKind::Github);
    assert_eq!(request.origin.runner_id, "runner-7");
    assert_eq!(request.origin.forge_ref, json!({"job_id": JOB_ID, "plan_id": PLAN_ID}));
    assert_eq!(request.route_label, "illumos");
    assert_eq!(request.runs_on, ["illumos"]);
    assert_eq!(request.name, "build (1.80)");
    assert_eq!(request.job_key, "build");
    assert_eq!(request.workflow_name, "CI");
    assert_eq!(request.attempt, 2);
    assert_eq!(request.timeout_minutes, None, "the server enforces the job timeout (ref §4.5)");

    assert_eq!(request.env.job["A"], Template::expr("vars.REGION"), "the later env mapping wins");
    assert_eq!(request.env.job["B"], Template::literal("kept"));
    assert_eq!(request.defaults.shell.as_deref(), Some("sh"));
    assert_eq!(request.defaults.working_directory, Some(Template::literal("src")));
    assert_eq!(request.outputs["version"], Template::expr("steps.test.outputs.v"));

    let contexts = &request.contexts;
    assert_eq!(contexts.github["repository"], "octo/hello");
    assert_eq!(contexts.github["event"], json!({"forced": false}));
    assert_eq!(contexts.matrix, json!({"rust": "1.80"}));
    assert_eq!(contexts.strategy, json!({"job-index": 0, "fail-fast": true}));
    assert_eq!(contexts.needs, json!({"lint": {"result": "success"}}));
    assert_eq!(contexts.vars, json!({"REGION": "eu"}));
    assert_eq!(contexts.inputs, Value::Null);

    assert_eq!(request.workspace.repository, "octo/hello");
    assert_eq!(request.workspace.repository_url, "https://github.com/octo/hello.git");
    assert_eq!(request.workspace.sha, "abc123");
    assert_eq!(request.workspace.git_ref, "refs/heads/main");

    let context = &translated.context;
    assert_eq!((context.plan_id.as_str(), context.job_id.as_str()), (PLAN_ID, JOB_ID));
    assert_eq!(context.display_name, "build (1.80)");
    assert_eq!(context.job_token, "jwt.job.token");
    assert_eq!(context.run_service_url, "https://run.example/");
    assert_eq!(context.results_url.as_deref(), Some("https://results-receiver.example/"));
    assert_eq!(context.feed_stream_url.as_deref(), Some("wss://feed.example/x"));
    assert_eq!(context.billing_owner_id.as_deref(), Some("U_kgDOAAAA"));
    let steps: Vec<_> =
        context.steps.iter().map(|s| (s.external_id.as_str(), s.display_name.as_str(), s.ref_name.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("11111111-1111-1111-1111-111111111111", "Run __run", "__run"),
            ("22222222-2222-2222-2222-222222222222", "test", "test")
        ]
    );
    assert!(request.steps.iter().all(|s| s.kind == StepKind::Run));
}

#[test]
fn pascal_case_field_names_translate_the_same() {
    let camel = run(&message()).unwrap();
    let pascal_message = pascal_case(&message());
    assert!(pascal_message.get("JobId").is_some() && pascal_message.get("jobId").is_none());
    let pascal = run(&pascal_message).unwrap();
    let mut expected = camel.request.clone();
    expected.job_id = pascal.request.job_id;
    expected.secrets = pascal.request.secrets.clone();
    expected.workspace.token = pascal.request.workspace.token.clone();
    assert_eq!(pascal.request, expected);
    assert_eq!(pascal.context, camel.context);
}

#[test]
fn results_url_falls_back_to_the_connection_and_absent_contexts_are_null() {
    let mut message = message();
    message["variables"].as_object_mut().unwrap().remove("system.github.results_endpoint");
    message["contextData"] = json!({"github": {"t": 2, "d": [{"k": "repository", "v": "octo/hello"}]}});
    message.as_object_mut().unwrap().remove("environmentVariables");
    message.as_object_mut().unwrap().remove("jobOutputs");
    let translated = run(&message).unwrap();
    assert_eq!(translated.context.results_url.as_deref(), Some("https://results.example/"));
    let contexts = &translated.request.contexts;
    for (name, value) in [("matrix", &contexts.matrix), ("needs", &contexts.needs), ("vars", &contexts.vars)] {
        assert_eq!(*value, Value::Null, "{name}");
    }
    assert!(translated.request.env.job.is_empty());
    assert!(translated.request.outputs.is_empty());
    assert_eq!(translated.request.job_key, "build", "from system.github.job once github.job is gone");
}
