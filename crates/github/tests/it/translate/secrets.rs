//! Secrets are sealed for the bus, never in clear in the request, and masked in every form.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use github::translate::translate;
use serde_json::json;

use super::{TOKEN, key, message, settings};

#[test]
fn secrets_are_sealed_and_open_with_the_bus_key_only() {
    let key = key();
    let mut message = message();
    message["variables"]["SHORT"] = json!({"value": "2", "isSecret": true});
    message["contextData"]["github"]["d"].as_array_mut().unwrap().push(json!({"k": "echo", "v": TOKEN}));
    let translated = translate(&message, &settings(&key)).unwrap();
    let request = &translated.request;
    let names: Vec<&str> = request.secrets.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["DEPLOY_KEY", "GITHUB_TOKEN", "SHORT"],
        "system.accessToken is no secret of the job, PLAIN is no secret"
    );
    assert!(request.contexts.github.get("echo").is_none(), "the token under another name is gone too");
    assert_eq!(request.contexts.github["run_attempt"], "2", "a secret's value elsewhere in the context stays");

    let wire = serde_json::to_string(request).unwrap();
    for clear in [TOKEN, "line-one", "vss-access", "jwt.job.token"] {
        assert!(!wire.contains(clear), "{clear} travels in clear: {wire}");
    }
    assert!(request.contexts.github.get("token").is_none());

    let opened = request.open_secrets(&key.to_base64()).unwrap();
    assert_eq!(opened["GITHUB_TOKEN"].expose(), TOKEN);
    assert!(opened["DEPLOY_KEY"].expose().contains("\nline-one\n"));
    let checkout = request.workspace.token.as_ref().expect("the checkout token is sealed");
    assert_eq!(key.open(request.job_id, checkout).unwrap().expose(), TOKEN);

    let other = super::key();
    assert!(request.open_secrets(&other.to_base64()).is_err(), "another bus key opens nothing");
}

#[test]
fn masks_hold_every_secret_its_lines_the_job_token_and_the_basic_auth_form() {
    let masks = super::run(&message()).unwrap().masks;
    let masks: Vec<&str> = masks.iter().map(|m| m.expose()).collect();
    let basic = STANDARD.encode(format!("x-access-token:{TOKEN}"));
    for expected in
        [TOKEN, "jwt.job.token", "vss-access", "line-one", "line-two", "-----BEGIN KEY-----", &basic, "hinted-secret"]
    {
        assert!(masks.contains(&expected), "{expected} is not masked: {masks:?}");
    }
    assert!(masks.iter().any(|m| m.contains("\nline-one\n")), "the whole multi-line value too");
    assert!(!masks.contains(&"not secret"));
    assert!(!masks.contains(&"a+b"), "regex hints are not literal masks");
    assert!(masks.iter().all(|m| !m.trim().is_empty()));
}
