//! The `inputs` context from the given values and `on.<event>.inputs`, checked against GitHub's
//! docs: workflow syntax (`on.workflow_dispatch.inputs.<input_id>.type|required`,
//! `on.workflow_call.inputs`: "If a `default` parameter is not set, the default value of the
//! input is `false` for a boolean, `0` for a number, and `""` for a string"; "If a caller
//! workflow passes an input that is not specified in the called workflow, this results in an
//! error") and contexts ("The inputs context preserves Boolean values as Booleans instead of
//! converting them to strings. The `choice` type resolves to a string").

use serde_json::{Value, json};
use workflow::{InputDefault, InputError, InputKind, InputRequest, InputSpec, resolve_inputs};

use crate::parse_ok;

/// A workflow whose `on:` is `on_yaml` (indented 2 spaces under `on:`).
fn workflow_with(on_yaml: &str) -> workflow::Workflow {
    parse_ok(&format!("on:\n{on_yaml}\njobs:\n  j:\n    runs-on: linux-test\n    steps:\n      - run: echo\n"))
}

fn resolve(on_yaml: &str, event: &str, given: &[(&str, &str)]) -> Result<Value, InputError> {
    let workflow = workflow_with(on_yaml);
    let given: Vec<(String, String)> = given.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let github = json!({"event_name": event, "ref": "refs/heads/main"});
    let vars = json!({"REGION": "eu"});
    resolve_inputs(&workflow, &InputRequest { event_name: event, given: &given, github: &github, vars: &vars })
}

#[track_caller]
fn check(on_yaml: &str, event: &str, given: &[(&str, &str)], expected: Value) {
    match resolve(on_yaml, event, given) {
        Ok(got) => assert_eq!(got, expected, "on:\n{on_yaml}\ngiven {given:?}"),
        Err(e) => panic!("expected {expected}, got the error: {e}\non:\n{on_yaml}"),
    }
}

#[track_caller]
fn check_err(on_yaml: &str, event: &str, given: &[(&str, &str)], expected: InputError) {
    match resolve(on_yaml, event, given) {
        Ok(got) => panic!("expected {expected:?}, got {got}\non:\n{on_yaml}"),
        Err(e) => assert_eq!(e, expected, "on:\n{on_yaml}"),
    }
}

/// The example of `on.workflow_dispatch.inputs` in GitHub's workflow syntax docs.
const DOCS_DISPATCH: &str = "  workflow_dispatch:
    inputs:
      logLevel:
        description: 'Log level'
        required: true
        default: 'warning'
        type: choice
        options:
          - info
          - warning
          - debug
      print_tags:
        description: 'True to print to STDOUT'
        required: true
        type: boolean
      tags:
        description: 'Test scenario tags'
        required: true
        type: string
      environment:
        description: 'Environment to run tests against'
        type: environment
        required: true";

/// Inputs of every type, none required.
const TYPED: &str = "  workflow_dispatch:
    inputs:
      style:
        default: loud
      dry-run:
        type: boolean
      verbose:
        type: boolean
        default: false
      count:
        type: number
        default: 3
      level:
        type: choice
        options: [info, debug]";

#[test]
fn docs_example_with_everything_given() {
    check(
        DOCS_DISPATCH,
        "workflow_dispatch",
        &[("print_tags", "true"), ("tags", "smoke"), ("environment", "staging")],
        json!({"logLevel": "warning", "print_tags": true, "tags": "smoke", "environment": "staging"}),
    );
    check(
        DOCS_DISPATCH,
        "workflow_dispatch",
        &[("logLevel", "debug"), ("print_tags", "false"), ("tags", "a b"), ("environment", "prod")],
        json!({"logLevel": "debug", "print_tags": false, "tags": "a b", "environment": "prod"}),
    );
}

#[test]
fn inputs_not_given_take_their_defaults_with_their_types() {
    check(
        TYPED,
        "workflow_dispatch",
        &[],
        json!({"style": "loud", "dry-run": false, "verbose": false, "count": 3, "level": ""}),
    );
}

#[test]
fn given_values_get_their_input_type() {
    check(
        TYPED,
        "workflow_dispatch",
        &[("dry-run", "true"), ("count", "2.5"), ("style", "quiet"), ("level", "debug")],
        json!({"style": "quiet", "dry-run": true, "verbose": false, "count": 2.5, "level": "debug"}),
    );
    // A string input keeps text that looks like another type as text.
    check(TYPED, "workflow_dispatch", &[("style", "true")], typed_defaults_with(json!({"style": "true"})));
    check(TYPED, "workflow_dispatch", &[("count", " 10 ")], typed_defaults_with(json!({"count": 10})));
    check(TYPED, "workflow_dispatch", &[("count", "-1e3")], typed_defaults_with(json!({"count": -1000})));
}

#[test]
fn a_later_value_for_the_same_input_wins() {
    check(
        TYPED,
        "workflow_dispatch",
        &[("dry-run", "false"), ("dry-run", "true")],
        typed_defaults_with(json!({"dry-run": true})),
    );
}

#[test]
fn a_boolean_is_true_or_false_and_nothing_else() {
    for value in ["yes", "1", "True", "", "on"] {
        check_err(
            TYPED,
            "workflow_dispatch",
            &[("dry-run", value)],
            InputError::NotBoolean { name: "dry-run".into(), value: value.into() },
        );
    }
}

#[test]
fn a_number_must_be_a_finite_number() {
    for value in ["three", "", "NaN", "inf", "1,5", "0x10"] {
        check_err(
            TYPED,
            "workflow_dispatch",
            &[("count", value)],
            InputError::NotNumber { name: "count".into(), value: value.into() },
        );
    }
}

#[test]
fn a_choice_must_be_one_of_its_options() {
    check_err(
        DOCS_DISPATCH,
        "workflow_dispatch",
        &[("logLevel", "trace"), ("print_tags", "true"), ("tags", "t"), ("environment", "e")],
        InputError::NotAnOption {
            name: "logLevel".into(),
            value: "trace".into(),
            options: "info, warning, debug".into(),
        },
    );
    // Options compare exactly, as the form offers them.
    check_err(
        TYPED,
        "workflow_dispatch",
        &[("level", "INFO")],
        InputError::NotAnOption { name: "level".into(), value: "INFO".into(), options: "info, debug".into() },
    );
}

#[test]
fn a_required_input_without_default_must_be_given() {
    check_err(
        DOCS_DISPATCH,
        "workflow_dispatch",
        &[("print_tags", "true"), ("environment", "e")],
        InputError::Missing { name: "tags".into() },
    );
    // A required input with a default is satisfied by it (logLevel above).
}

#[test]
fn an_input_the_workflow_does_not_define_is_refused() {
    check_err(
        TYPED,
        "workflow_dispatch",
        &[("colour", "red")],
        InputError::Unknown {
            event: "workflow_dispatch".into(),
            name: "colour".into(),
            defined: "style, dry-run, verbose, count, level".into(),
        },
    );
    // A declared workflow_dispatch without inputs defines none.
    for on in ["  workflow_dispatch:", "  [push, workflow_dispatch]"] {
        check_err(
            on,
            "workflow_dispatch",
            &[("x", "1")],
            InputError::Unknown { event: "workflow_dispatch".into(), name: "x".into(), defined: "none".into() },
        );
        check(on, "workflow_dispatch", &[], json!({}));
    }
}

#[test]
fn workflow_call_inputs_default_to_the_empty_value_of_their_type() {
    let on = "  workflow_call:
    inputs:
      username:
        description: 'A username passed from the caller workflow'
        default: 'john-doe'
        required: false
        type: string
      flag:
        type: boolean
      count:
        type: number
      text:
        type: string";
    check(on, "workflow_call", &[], json!({"username": "john-doe", "flag": false, "count": 0, "text": ""}));
    check(
        on,
        "workflow_call",
        &[("flag", "true"), ("count", "7")],
        json!({"username": "john-doe", "flag": true, "count": 7, "text": ""}),
    );
}

#[test]
fn workflow_call_defaults_may_be_expressions_over_github_vars_and_inputs() {
    let on = "  workflow_call:
    inputs:
      target:
        type: string
        default: ${{ vars.REGION }}-${{ inputs.stage }}
      is-main:
        type: boolean
        default: ${{ github.ref == 'refs/heads/main' }}
      stage:
        type: string
        default: test";
    check(on, "workflow_call", &[], json!({"target": "eu-test", "is-main": true, "stage": "test"}));
    check(on, "workflow_call", &[("stage", "prod")], json!({"target": "eu-prod", "is-main": true, "stage": "prod"}));
    // A given value wins over the expression.
    check(on, "workflow_call", &[("target", "x")], json!({"target": "x", "is-main": true, "stage": "test"}));
}

#[test]
fn an_event_without_definitions_keeps_the_given_text() {
    check(TYPED, "push", &[("dry-run", "true"), ("anything", "1")], json!({"dry-run": "true", "anything": "1"}));
    check("  push:", "workflow_dispatch", &[("n", "2")], json!({"n": "2"}));
}

#[test]
fn the_workflow_lists_its_input_definitions() {
    let workflow = workflow_with(DOCS_DISPATCH);
    let specs = workflow.inputs("workflow_dispatch").unwrap_or_default();
    assert_eq!(
        specs.first(),
        Some(&InputSpec {
            name: "logLevel".into(),
            description: Some("Log level".into()),
            kind: InputKind::Choice { options: vec!["info".into(), "warning".into(), "debug".into()] },
            required: true,
            default: Some(InputDefault::Value(json!("warning"))),
        })
    );
    let kinds: Vec<&InputKind> = specs.iter().map(|s| &s.kind).collect();
    assert_eq!(kinds[1..], [&InputKind::Boolean, &InputKind::String, &InputKind::Environment]);
    assert_eq!(workflow.inputs("workflow_call"), None);
    assert_eq!(workflow.inputs("push"), None);
}

#[test]
fn kdl_workflows_define_inputs_the_same_way() {
    let kdl = r#"workflow "k" {
    on {
        workflow_dispatch {
            inputs {
                dry-run type="boolean" default=#true
                level type="choice" {
                    options "a" "b"
                }
            }
        }
    }
    job "j" runs-on="linux-test" {
        step { run "echo" }
    }
}
"#;
    let workflow = match workflow::parse(kdl, ".solstice/workflow.kdl") {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    let got = resolve_inputs(
        &workflow,
        &InputRequest { event_name: "workflow_dispatch", given: &[], github: &json!({}), vars: &json!({}) },
    );
    assert_eq!(got, Ok(json!({"dry-run": true, "level": ""})));
}

/// What `TYPED` resolves to with nothing given, with `over`'s keys replaced.
fn typed_defaults_with(over: Value) -> Value {
    let mut out = json!({"style": "loud", "dry-run": false, "verbose": false, "count": 3, "level": ""});
    if let (Some(out), Value::Object(over)) = (out.as_object_mut(), over) {
        out.extend(over);
    }
    out
}
