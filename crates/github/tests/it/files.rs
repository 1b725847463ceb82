//! Tests of github::files: the official `.runner`, `.credentials` and `.credentials_rsaparams`
//! (ref §1.5), read leniently, written privately, and JIT configs (ref §1.6).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use github::auth::{AccessTokens, OAuthTokens};
use github::files::{self, FilesError, Registration};
use serde_json::{Value, json};

use crate::key::shared_key;

pub fn sample() -> Registration {
    Registration {
        agent_id: 42,
        agent_name: "solstice-1".into(),
        pool_id: 1,
        pool_name: Some("Default".into()),
        server_url: "https://pipelines.example/tenant".into(),
        broker_url: Some("https://broker.example/".into()),
        use_v2_flow: true,
        use_runner_admin_flow: true,
        github_url: "https://github.com/octo/hello".into(),
        work_folder: "_work".into(),
        ephemeral: false,
        disable_update: true,
        client_id: "5f1c2a9e-0000-4000-8000-000000000001".into(),
        authorization_url: "https://token.example/oauth".into(),
        legacy_authorization_url: None,
        require_fips: true,
        labels: vec!["omnios-r151054".into(), "linux-test".into()],
        api_url: Some("https://api.github.com/".into()),
    }
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_saved_registration_loads_back_and_is_private() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("github").join("solstice-1");
    let registration = sample();
    registration.save(&dir, shared_key()).unwrap();
    assert!(Registration::exists(&dir));
    assert_eq!(mode(&dir), 0o700);
    for name in [files::RUNNER_FILE, files::CREDENTIALS_FILE, files::KEY_FILE] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 3, "no temporary files left: {names:?}");
    let (loaded, key) = Registration::load(&dir).unwrap();
    assert_eq!(loaded, registration);
    assert_eq!(key.xml_public_key(), shared_key().xml_public_key());
}

#[test]
fn files_are_written_with_the_official_camel_case_keys_and_ours_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    sample().save(dir.path(), shared_key()).unwrap();
    let runner = json_file(&dir.path().join(".runner"));
    assert_eq!(
        runner,
        json!({
            "agentId": 42, "agentName": "solstice-1", "poolId": 1, "serverUrl": "https://pipelines.example/tenant",
            "gitHubUrl": "https://github.com/octo/hello", "workFolder": "_work", "poolName": "Default",
            "disableUpdate": true, "useV2Flow": true, "useRunnerAdminFlow": true,
            "serverUrlV2": "https://broker.example/",
            "solsticeLabels": ["omnios-r151054", "linux-test"], "solsticeApiUrl": "https://api.github.com/",
        })
    );
    let credentials = json_file(&dir.path().join(".credentials"));
    assert_eq!(
        credentials,
        json!({"scheme": "OAuth", "data": {
            "clientId": "5f1c2a9e-0000-4000-8000-000000000001", "requireFipsCryptography": "True",
            "authorizationUrl": "https://token.example/oauth",
        }})
    );
}

#[test]
fn a_legacy_token_url_is_written_and_read_the_official_way() {
    let dir = tempfile::tempdir().unwrap();
    let registration = Registration { legacy_authorization_url: Some("https://vstoken.example/".into()), ..sample() };
    registration.save(dir.path(), shared_key()).unwrap();
    let data = &json_file(&dir.path().join(".credentials"))["data"];
    assert_eq!(data["authorizationUrl"], "https://vstoken.example/");
    assert_eq!(data["authorizationUrlV2"], "https://token.example/oauth");
    assert_eq!(data["enableAuthMigrationByDefault"], "true");
    assert_eq!(Registration::load(dir.path()).unwrap().0, registration);
}

/// Writes the three files as another tool might: PascalCase, numbers and booleans as strings.
fn write_lenient(dir: &Path, runner: &Value, credentials: &Value) {
    std::fs::write(dir.join(".runner"), format!("\u{feff}{runner}")).unwrap();
    std::fs::write(dir.join(".credentials"), credentials.to_string()).unwrap();
    std::fs::write(dir.join(".credentials_rsaparams"), shared_key().to_rsa_params()).unwrap();
}

#[test]
fn files_are_read_in_any_case_with_strings_for_numbers_and_booleans() {
    let dir = tempfile::tempdir().unwrap();
    let runner = json!({
        "AgentId": "123", "AgentName": "from-dotnet", "PoolId": "1", "ServerUrl": "https://t.example/",
        "GitHubUrl": "https://github.com/octo", "Ephemeral": "True", "UseV2Flow": "true",
        "ServerUrlV2": "https://broker.example/", "DisableUpdate": "False", "SkipSessionRecover": "True",
        "MonitorSocketAddress": null,
    });
    let credentials = json!({"Scheme": "OAuth", "Data": {
        "ClientId": "abc", "AuthorizationUrl": "https://token.example/", "RequireFipsCryptography": "False",
    }});
    write_lenient(dir.path(), &runner, &credentials);
    let (registration, _) = Registration::load(dir.path()).unwrap();
    assert_eq!(registration.agent_id, 123);
    assert_eq!(registration.agent_name, "from-dotnet");
    assert!(registration.ephemeral);
    assert!(registration.use_v2_flow);
    assert!(!registration.disable_update);
    assert!(!registration.require_fips);
    assert_eq!(registration.broker_url.as_deref(), Some("https://broker.example/"));
    assert_eq!(registration.work_folder, "_work", "the official default");
    assert!(registration.labels.is_empty());
    assert_eq!(registration.api_url, None);
}

#[test]
fn unreadable_values_and_missing_files_say_which() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = json!({"scheme": "OAuth", "data": {"clientId": "abc", "authorizationUrl": "https://t/"}});
    write_lenient(dir.path(), &json!({"agentId": "twelve", "agentName": "x"}), &credentials);
    let error = Registration::load(dir.path()).unwrap_err();
    assert_eq!(error.to_string(), r#"read "agentId" in .runner: "twelve" is not a number"#);

    write_lenient(dir.path(), &json!({"agentId": 12}), &credentials);
    let error = Registration::load(dir.path()).unwrap_err();
    assert_eq!(error.to_string(), r#"find "agentName" in .runner"#);

    std::fs::remove_file(dir.path().join(".credentials")).unwrap();
    let error = Registration::load(dir.path()).unwrap_err();
    assert!(matches!(&error, FilesError::Read { path, .. } if path.ends_with(".credentials")), "{error:?}");
}

#[test]
fn delete_removes_the_files_and_the_directory_and_tolerates_a_second_call() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("r");
    sample().save(&dir, shared_key()).unwrap();
    files::delete(&dir).unwrap();
    assert!(!dir.exists());
    files::delete(&dir).unwrap();
}

/// An `encoded_jit_config` of the three files (ref §1.6).
fn jit_config(runner: &Value, credentials: &Value, rsaparams: &str) -> String {
    let files = json!({
        ".runner": STANDARD.encode(runner.to_string()),
        ".credentials": STANDARD.encode(credentials.to_string()),
        ".credentials_rsaparams": STANDARD.encode(rsaparams),
    });
    STANDARD.encode(files.to_string())
}

#[test]
fn jit_configs_are_decoded_with_strings_as_values() {
    let runner = json!({
        "AgentId": "123", "AgentName": "jit-1", "PoolId": "1", "PoolName": "Default",
        "ServerUrl": "https://pipelines.example/", "GitHubUrl": "", "WorkFolder": "_work",
        "Ephemeral": "True", "UseV2Flow": "True", "ServerUrlV2": "https://broker.example/",
    });
    let credentials = json!({"Scheme": "OAuth", "Data": {
        "ClientId": "client-1", "AuthorizationUrl": "https://token.example/", "RequireFipsCryptography": "True",
    }});
    let (registration, key) =
        files::from_jit_config(&jit_config(&runner, &credentials, &shared_key().to_rsa_params())).unwrap();
    assert_eq!(registration.agent_id, 123);
    assert_eq!(registration.agent_name, "jit-1");
    assert_eq!(registration.pool_name.as_deref(), Some("Default"));
    assert!(registration.ephemeral);
    assert!(registration.use_v2_flow);
    assert!(registration.require_fips);
    assert_eq!(registration.broker_url.as_deref(), Some("https://broker.example/"));
    assert_eq!(registration.client_id, "client-1");
    assert_eq!(registration.github_url, "");
    assert_eq!(key.exponent_modulus(), shared_key().exponent_modulus());
}

#[test]
fn broken_jit_configs_say_what_is_wrong() {
    let check = |encoded: &str, expected: &str| {
        let error = files::from_jit_config(encoded).unwrap_err();
        assert_eq!(github::error_chain(&error), expected);
    };
    check("%%%", "decode the JIT config: it is not base64");
    check(&STANDARD.encode("[1]"), "decode the JIT config: it has no .runner file");
    let no_key = STANDARD.encode(json!({".runner": "e30=", ".credentials": "e30="}).to_string());
    check(&no_key, "decode the JIT config: it has no .credentials_rsaparams file");
}

#[tokio::test]
async fn a_jit_config_from_the_fake_gets_an_access_token() {
    let fake = fake_github::FakeGithub::start(fake_github::Config::default()).await.unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}repos/octo/hello/actions/runners/generate-jitconfig", fake.api_url()))
        .bearer_auth(fake.admin_token())
        .json(&json!({"name": "jit-1", "runner_group_id": 1, "labels": ["self-hosted", "linux-test"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (registration, key) = files::from_jit_config(answer["encoded_jit_config"].as_str().unwrap()).unwrap();
    let runner = &fake.runners()[0];
    assert_eq!(registration.agent_id, runner.id);
    assert_eq!(registration.agent_name, "jit-1");
    assert!(registration.ephemeral);
    assert_eq!(registration.broker_url, Some(format!("{}/broker/", fake.base_url())));

    let state = tempfile::tempdir().unwrap();
    registration.save(state.path(), &key).unwrap();
    let (loaded, key) = Registration::load(state.path()).unwrap();
    let tokens = OAuthTokens::new(github::http::client().unwrap(), &loaded, key);
    assert!(tokens.access_token().await.is_ok());
}
