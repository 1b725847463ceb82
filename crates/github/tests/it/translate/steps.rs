//! `steps[]` → StepCommands: run steps, checkout, and what is refused.

use contract::{StepKind, Template};
use github::translate::{TranslateError, job_context};
use serde_json::{Value, json};

use super::{message, run, script_step};

fn with_step(step: Value) -> Value {
    let mut message = message();
    message["steps"].as_array_mut().unwrap().push(step);
    message
}

fn uses_step(reference: Value, inputs: Value) -> Value {
    json!({"type": "action", "id": "33333333-3333-3333-3333-333333333333", "name": "co", "displayName": "Check out",
        "contextName": "co", "condition": "success()", "reference": reference, "inputs": inputs})
}

#[test]
fn run_steps_keep_expressions_as_sent_and_literals_as_text() {
    let request = run(&message()).unwrap().request;
    let [first, second] = request.steps.as_slice() else { panic!("two steps: {:?}", request.steps) };

    assert_eq!((first.index, first.id.as_str()), (0, "__run"));
    assert_eq!(first.forge_ref.as_deref(), Some("11111111-1111-1111-1111-111111111111"));
    assert_eq!(first.run, Some(Template::literal("cargo build")));
    assert_eq!(first.name, Some(Template::literal("Run __run")));
    assert_eq!(first.if_, Some(Template::expr("success()")));
    assert_eq!((first.shell.as_ref(), first.working_directory.as_ref()), (None, None));

    assert_eq!((second.index, second.id.as_str()), (1, "test"));
    assert_eq!(second.run, Some(Template::expr("format('cargo test --{0}', matrix.rust)")));
    assert_eq!(second.name, Some(Template::expr("format('Test {0}', matrix.rust)")));
    assert_eq!(second.if_, Some(Template::expr("success() && (github.event_name == 'push')")));
    assert_eq!(second.continue_on_error, Some(Template::literal(true)));
    assert_eq!(second.timeout_minutes, Some(Template::literal(10)));
    assert_eq!(second.env["RUST"], Template::expr("matrix.rust"));
    assert_eq!(second.env["N"], Template::literal("3"));
    assert_eq!(second.shell.as_deref(), Some("bash"));
    assert_eq!(second.working_directory, Some(Template::literal("crates/x")));
}

#[test]
fn a_step_whose_whole_script_is_an_expression_stays_an_expression() {
    let mut message = message();
    message["steps"] = json!([script_step("s-1", "__run", json!({"type": 3, "expr": "inputs.script"}))]);
    let request = run(&message).unwrap().request;
    assert_eq!(request.steps[0].run, Some(Template::Expr("inputs.script".into())));
    let wire = serde_json::to_value(&request.steps[0]).unwrap();
    assert_eq!(wire["run"], json!({"expr": "inputs.script"}), "not re-wrapped in ${{{{ }}}}");
}

#[test]
fn actions_checkout_becomes_the_built_in_checkout() {
    let step = uses_step(
        json!({"type": "repository", "name": "actions/checkout", "ref": "v4", "repositoryType": "GitHub"}),
        json!({"type": 2, "map": [{"Key": "fetch-depth", "Value": 0}, {"Key": "ref", "Value": {"type": 3, "expr": "github.head_ref"}}]}),
    );
    let request = run(&with_step(step)).unwrap().request;
    let checkout = &request.steps[2];
    assert_eq!(checkout.kind, StepKind::Checkout);
    assert_eq!(checkout.uses.as_deref(), Some("actions/checkout@v4"));
    assert_eq!(checkout.with["fetch-depth"], Template::literal("0"));
    assert_eq!(checkout.with["ref"], Template::expr("github.head_ref"));
    assert_eq!(checkout.run, None);
    assert_eq!(checkout.name, Some(Template::literal("Check out")));
    // The integer reference type (1 = repository) is read the same way.
    let numeric = uses_step(json!({"type": 1, "name": "actions/checkout", "ref": "v4"}), Value::Null);
    assert_eq!(run(&with_step(numeric)).unwrap().request.steps[2].kind, StepKind::Checkout);
}

#[test]
fn other_actions_are_refused_naming_the_step_and_the_action() {
    let cases = [
        (
            json!({"type": "repository", "name": "actions/setup-node", "ref": "v4", "repositoryType": "GitHub"}),
            "actions/setup-node@v4",
        ),
        (
            json!({"type": "repository", "name": "github/codeql-action", "ref": "v3", "path": "init"}),
            "github/codeql-action/init@v3",
        ),
        (
            json!({"type": "repository", "repositoryType": "self", "path": "./.github/actions/mine"}),
            "./.github/actions/mine",
        ),
        (json!({"type": 2, "image": "alpine:3"}), "docker://alpine:3"),
    ];
    for (reference, uses) in cases {
        let error = run(&with_step(uses_step(reference, Value::Null))).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("run step 3 'Check out': uses: {uses} is not supported (only run: steps and actions/checkout)")
        );
    }
}

#[test]
fn unknown_reference_types_and_missing_scripts_are_refused_naming_the_step() {
    let error = run(&with_step(uses_step(json!({"type": "wasm"}), Value::Null))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "run step 3 'Check out': its reference type 'wasm' is not one the runner protocol defines"
    );
    let mut no_script = script_step("s-3", "__run_2", json!("x"));
    no_script["inputs"] = json!({"type": 2, "map": []});
    let error = run(&with_step(no_script)).unwrap_err();
    assert_eq!(error.to_string(), "read `steps[2].inputs.script` of the job message: it is missing");
}

#[test]
fn container_jobs_are_refused() {
    let mut message = message();
    message["jobContainer"] = json!({"type": 2, "map": [{"Key": "image", "Value": "node:20"}]});
    assert!(matches!(run(&message), Err(TranslateError::Containers { .. })));
    let mut message = super::message();
    message["jobServiceContainers"] = json!({"type": 2, "map": [{"Key": "db", "Value": {"type": 2, "map": [{"Key": "image", "Value": "postgres"}]}}]});
    assert_eq!(
        run(&message).unwrap_err().to_string(),
        "run the job: service containers (services:) are not supported; every job runs in a VM of its runs-on image"
    );
}

#[test]
fn job_context_is_read_even_when_the_steps_cannot_run() {
    let unsupported = with_step(uses_step(json!({"type": "repository", "name": "a/b", "ref": "v1"}), Value::Null));
    assert!(run(&unsupported).is_err());
    let context = job_context(&unsupported).unwrap();
    assert_eq!(context.job_token, "jwt.job.token");
    assert_eq!(context.steps.len(), 3);
    assert_eq!(context.steps[2].display_name, "Check out");

    let mut unreadable = message();
    unreadable["steps"][0].as_object_mut().unwrap().remove("id");
    assert_eq!(run(&unreadable).unwrap_err().to_string(), "read `steps[0].id` of the job message: it is missing");
    let context = job_context(&unreadable).unwrap();
    assert_eq!(context.job_token, "jwt.job.token");
    assert!(context.steps.is_empty());
}
