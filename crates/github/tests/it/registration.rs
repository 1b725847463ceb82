//! Tests of github::registration: configure and remove against the fake GitHub, over the
//! runner-admin flow (ref §1.3) and the legacy pools/agents flow (ref §1.4).

use std::path::PathBuf;

use fake_github::{Config, FakeGithub};
use github::auth::{AccessTokens, AuthError, OAuthTokens};
use github::files::Registration;
use github::key::RunnerKey;
use github::registration::{self, ConfigureOptions, RegistrationError, Removed};

use crate::files::mode;

/// Options for one runner `name` of the fake's octo/hello, files under `state`.
pub fn options(fake: &FakeGithub, state: &std::path::Path, name: &str) -> ConfigureOptions {
    ConfigureOptions {
        url: fake.repo_url("octo", "hello"),
        token: fake.registration_token(),
        name: name.into(),
        labels: vec!["linux-test".into()],
        count: 1,
        state_dir: state.to_owned(),
        ..ConfigureOptions::default()
    }
}

/// A runner configured on `fake` through github::registration, loaded back from its files.
pub async fn configured(fake: &FakeGithub, name: &str) -> (tempfile::TempDir, Registration, RunnerKey) {
    let state = tempfile::tempdir().unwrap();
    let dirs = registration::configure(&options(fake, state.path(), name)).await.unwrap();
    let (registration, key) = Registration::load(&dirs[0]).unwrap();
    (state, registration, key)
}

fn expected_labels(user: &[&str]) -> Vec<String> {
    let mut labels = registration::system_labels();
    labels.extend(user.iter().map(|label| label.to_string()));
    labels
}

async fn token_works(registration: &Registration, key: RunnerKey) -> Result<String, AuthError> {
    OAuthTokens::new(github::http::client().unwrap(), registration, key).access_token().await
}

#[tokio::test]
async fn runner_admin_flow_registers_a_runner_that_gets_tokens() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let options = ConfigureOptions { ephemeral: true, ..options(&fake, state.path(), "solstice") };
    let dirs = registration::configure(&options).await.unwrap();
    assert_eq!(dirs, [state.path().join("github").join("solstice")]);
    assert_eq!(mode(&dirs[0]), 0o700);
    for file in [".runner", ".credentials", ".credentials_rsaparams"] {
        assert_eq!(mode(&dirs[0].join(file)), 0o600, "{file}");
    }

    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].name, "solstice");
    assert_eq!(runners[0].labels, expected_labels(&["linux-test"]));
    assert!(runners[0].ephemeral);
    assert_eq!(runners[0].group_id, 1, "the default group");

    let (registration, key) = Registration::load(&dirs[0]).unwrap();
    assert_eq!(registration.agent_id, runners[0].id);
    assert_eq!(registration.client_id, runners[0].client_id);
    assert!(registration.use_v2_flow && registration.use_runner_admin_flow && registration.ephemeral);
    assert_eq!(registration.broker_url, Some(format!("{}/broker/", fake.base_url())));
    assert_eq!(registration.authorization_url, format!("{}/oauth/token", fake.base_url()));
    assert_eq!(registration.server_url, format!("{}/pipelines", fake.base_url()));
    assert_eq!(registration.github_url, fake.repo_url("octo", "hello"));
    assert_eq!(registration.labels, ["linux-test"]);
    assert_eq!(registration.api_url, Some(fake.api_url()), "a loopback host takes the GHES API path");
    assert!(token_works(&registration, key).await.is_ok());
}

#[tokio::test]
async fn legacy_flow_registers_an_agent_the_server_sends_to_the_broker() {
    let fake = FakeGithub::start(Config { use_v2_flow: false, ..Config::default() }).await.unwrap();
    let (state, registration, key) = configured(&fake, "legacy").await;
    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].labels, expected_labels(&["linux-test"]));
    assert_eq!(registration.agent_id, runners[0].id);
    assert!(!registration.use_runner_admin_flow);
    assert!(registration.use_v2_flow, "UseV2Flow from the agent properties");
    assert_eq!(registration.broker_url, Some(format!("{}/broker/", fake.base_url())));
    assert!(registration.require_fips);
    assert!(token_works(&registration, key).await.is_ok());

    // ref §1.4 step 4: --replace finds the agent by name and PUTs it.
    let replace = ConfigureOptions { replace: true, ..options(&fake, state.path(), "legacy") };
    registration::configure(&replace).await.unwrap();
    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].id, registration.agent_id, "the same agent, replaced");
    let (replaced, key) = Registration::load(&state.path().join("github").join("legacy")).unwrap();
    assert_ne!(replaced.client_id, registration.client_id);
    assert!(token_works(&replaced, key).await.is_ok());
}

#[tokio::test]
async fn legacy_flow_without_a_broker_is_refused_and_leaves_nothing_behind() {
    let config = Config { use_v2_flow: false, legacy_forces_broker: false, ..Config::default() };
    let fake = FakeGithub::start(config).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let error = registration::configure(&options(&fake, state.path(), "no-broker")).await.unwrap_err();
    assert!(matches!(error, RegistrationError::NoBroker), "{error:?}");
    assert_eq!(error.exit_code(), 2);
    assert!(fake.runners().is_empty(), "the agent was removed again");
    assert!(!state.path().join("github").join("no-broker").exists());
}

#[tokio::test]
async fn count_three_registers_three_runners_sharing_labels() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let options = ConfigureOptions {
        count: 3,
        labels: vec!["omnios-r151054".into(), "linux-test".into()],
        ..options(&fake, state.path(), "pool")
    };
    let dirs = registration::configure(&options).await.unwrap();
    let names = ["pool-1", "pool-2", "pool-3"];
    let expected: Vec<PathBuf> = names.iter().map(|name| state.path().join("github").join(name)).collect();
    assert_eq!(dirs, expected);
    let runners = fake.runners();
    let mut listed: Vec<&str> = runners.iter().map(|runner| runner.name.as_str()).collect();
    listed.sort_unstable();
    assert_eq!(listed, names);
    for runner in &runners {
        assert_eq!(runner.labels, expected_labels(&["omnios-r151054", "linux-test"]), "{}", runner.name);
    }
    let mut keys = Vec::new();
    for (dir, name) in dirs.iter().zip(names) {
        let (registration, key) = Registration::load(dir).unwrap();
        assert_eq!(registration.agent_name, name);
        keys.push(key.xml_public_key());
    }
    keys.dedup();
    assert_eq!(keys.len(), 3, "a key per runner");
}

#[tokio::test]
async fn a_count_that_fails_midway_keeps_and_names_the_runners_made() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    registration::configure(&options(&fake, elsewhere.path(), "pool-2")).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let error = registration::configure(&ConfigureOptions { count: 3, ..options(&fake, state.path(), "pool") })
        .await
        .unwrap_err();
    let made_dir = state.path().join("github").join("pool-1");
    match &error {
        RegistrationError::Partial { made, failed, source } => {
            assert_eq!(made, &[("pool-1".to_string(), made_dir.clone())]);
            assert_eq!(failed, "pool-2");
            assert!(matches!(**source, RegistrationError::NameTaken { .. }), "{source:?}");
        }
        other => panic!("expected a partial failure, got {other:?}"),
    }
    assert_eq!(
        github::error_chain(&error),
        format!(
            "register pool-2; registered before it and kept: pool-1 ({}): register pool-2: a runner with that name \
             exists already; pass --replace to replace it",
            made_dir.display()
        )
    );
    assert!(Registration::exists(&made_dir));
    let mut listed: Vec<String> = fake.runners().into_iter().map(|runner| runner.name).collect();
    listed.sort_unstable();
    assert_eq!(listed, ["pool-1", "pool-2"], "pool-3 was not attempted");
}

#[tokio::test]
async fn a_second_configure_is_refused_unless_replace_and_replace_takes_the_runner_over() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let dirs = registration::configure(&options(&fake, state.path(), "solstice")).await.unwrap();
    let (before, old_key) = Registration::load(&dirs[0]).unwrap();

    let error = registration::configure(&options(&fake, state.path(), "solstice")).await.unwrap_err();
    assert!(matches!(&error, RegistrationError::AlreadyConfigured { dir, .. } if *dir == dirs[0]), "{error:?}");
    assert_eq!(error.exit_code(), 2);
    assert!(error.to_string().contains("pass --replace"), "{error}");
    assert_eq!(fake.runners().len(), 1);

    // Same name from another state dir: GitHub has it, so it is refused too.
    let other = tempfile::tempdir().unwrap();
    let error = registration::configure(&options(&fake, other.path(), "solstice")).await.unwrap_err();
    assert!(matches!(&error, RegistrationError::NameTaken { name } if name == "solstice"), "{error:?}");

    let replace = ConfigureOptions {
        replace: true,
        labels: vec!["omnios-r151054".into()],
        ..options(&fake, state.path(), "solstice")
    };
    assert_eq!(registration::configure(&replace).await.unwrap(), dirs);
    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].id, before.agent_id, "the same runner, replaced");
    assert_eq!(runners[0].labels, expected_labels(&["omnios-r151054"]));
    let (after, new_key) = Registration::load(&dirs[0]).unwrap();
    assert_ne!(after.client_id, before.client_id);
    assert_eq!(after.labels, ["omnios-r151054"]);
    assert!(token_works(&after, new_key).await.is_ok());
    let error = token_works(&before, old_key).await.unwrap_err();
    assert!(error.registration_gone(), "the replaced registration's client is gone: {error:?}");
}

#[tokio::test]
async fn runner_groups_are_chosen_by_name_and_hosted_ones_refused() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let in_group =
        |group: &str| ConfigureOptions { runner_group: Some(group.into()), ..options(&fake, state.path(), "grouped") };
    let error = registration::configure(&in_group("nope")).await.unwrap_err();
    assert_eq!(error.to_string(), r#"find a runner group: there is no runner group named "nope""#);
    let error = registration::configure(&in_group("GitHub Actions")).await.unwrap_err();
    assert_eq!(error.to_string(), r#"find a runner group: "GitHub Actions" is a GitHub-hosted runner group"#);
    assert!(fake.runners().is_empty());
    registration::configure(&in_group("default")).await.unwrap();
    assert_eq!(fake.runners()[0].group_id, 1);
}

#[tokio::test]
async fn an_expired_token_is_exit_4_and_no_answer_is_exit_3() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let expired = ConfigureOptions { token: "AEXPIREDTOKEN".into(), ..options(&fake, state.path(), "x") };
    let error = registration::configure(&expired).await.unwrap_err();
    assert!(matches!(error, RegistrationError::TokenInvalid { .. }), "{error:?}");
    assert!(error.to_string().contains("the registration token is invalid or expired"), "{error}");
    assert_eq!(error.exit_code(), 4);

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/octo/hello", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = ConfigureOptions { url, ..options(&fake, state.path(), "x") };
    let error = registration::configure(&unreachable).await.unwrap_err();
    assert!(matches!(error, RegistrationError::Unreachable { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 3);
    assert!(!state.path().join("github").exists());
}

#[tokio::test]
async fn bad_names_counts_and_urls_are_refused_before_any_call() {
    let state = tempfile::tempdir().unwrap();
    let base = ConfigureOptions {
        url: "https://github.com/octo/hello".into(),
        token: "T".into(),
        name: "ok".into(),
        count: 1,
        state_dir: state.path().to_owned(),
        ..ConfigureOptions::default()
    };
    let cases = [
        (ConfigureOptions { name: "../x".into(), ..base.clone() }, r#"configure: "../x" cannot be a runner name"#),
        (ConfigureOptions { count: 0, ..base.clone() }, "configure: --count must be at least 1"),
        (ConfigureOptions { labels: vec!["a,b".into()], ..base.clone() }, r#"configure: "a,b" cannot be a label"#),
        (
            ConfigureOptions { url: "http://github.example/octo/hello".into(), ..base.clone() },
            "use http://github.example/octo/hello as a GitHub URL: plain http:// is accepted only for loopback hosts; use https://",
        ),
        (
            ConfigureOptions { url: "https://github.com/".into(), ..base.clone() },
            "use https://github.com/ as a GitHub URL: expected https://HOST/OWNER[/REPO] or https://HOST/enterprises/NAME",
        ),
    ];
    for (options, expected) in cases {
        let error = registration::configure(&options).await.unwrap_err();
        assert_eq!(error.to_string(), expected);
        assert_eq!(error.exit_code(), 2);
    }
}

#[test]
fn the_api_base_follows_the_host() {
    let check = |url: &str, api_override: Option<&str>, expected: &str| {
        assert_eq!(registration::api_base(url, api_override).unwrap(), expected, "{url} {api_override:?}");
    };
    check("https://github.com/octo/hello", None, "https://api.github.com/");
    check("https://www.github.com/octo", None, "https://api.github.com/");
    check("https://octo.ghe.com/octo/hello", None, "https://api.octo.ghe.com/");
    check("https://ghes.example:8443/enterprises/e", None, "https://ghes.example:8443/api/v3/");
    check("http://127.0.0.1:3000/octo/hello", None, "http://127.0.0.1:3000/api/v3/");
    check("http://localhost/octo", None, "http://localhost/api/v3/");
    check("https://github.com/octo/hello", Some("http://127.0.0.1:9/api"), "http://127.0.0.1:9/api/");
    assert!(registration::api_base("https://github.com/octo", Some("http://api.example/")).is_err());
}

#[tokio::test]
async fn remove_deletes_the_runner_then_its_files() {
    for use_v2_flow in [true, false] {
        let fake = FakeGithub::start(Config { use_v2_flow, ..Config::default() }).await.unwrap();
        let state = tempfile::tempdir().unwrap();
        let dirs = registration::configure(&options(&fake, state.path(), "gone")).await.unwrap();
        let error = registration::remove(&dirs[0], &fake.registration_token(), None).await.unwrap_err();
        assert_eq!(error.exit_code(), 4, "a registration token is no remove token: {error:?}");
        assert!(error.to_string().contains("the remove token is invalid or expired"), "{error}");
        assert!(Registration::exists(&dirs[0]), "files kept when GitHub refused");

        let removed = registration::remove(&dirs[0], &fake.remove_token(), None).await.unwrap();
        assert_eq!(removed, Removed::Deleted, "use_v2_flow {use_v2_flow}");
        assert!(fake.runners().is_empty(), "use_v2_flow {use_v2_flow}");
        assert!(!dirs[0].exists());
        let error = registration::remove(&dirs[0], &fake.remove_token(), None).await.unwrap_err();
        assert!(matches!(error, RegistrationError::NotConfigured { .. }), "{error:?}");
    }
}

#[tokio::test]
async fn remove_of_a_runner_already_deleted_on_github_still_removes_the_files() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let dirs = registration::configure(&options(&fake, state.path(), "deleted")).await.unwrap();
    let (registration, _) = Registration::load(&dirs[0]).unwrap();
    assert!(fake.delete_runner(registration.agent_id));
    let removed = registration::remove(&dirs[0], &fake.remove_token(), Some(&fake.api_url())).await.unwrap();
    assert_eq!(removed, Removed::AlreadyGone);
    assert!(!dirs[0].exists());
}

#[tokio::test]
async fn forget_deletes_the_files_of_an_ephemeral_runner_without_asking_github() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let options = ConfigureOptions { ephemeral: true, ..options(&fake, state.path(), "once") };
    let dirs = registration::configure(&options).await.unwrap();
    registration::forget(&dirs[0]).unwrap();
    assert!(!dirs[0].exists());
    assert_eq!(fake.runners().len(), 1, "GitHub deletes an ephemeral runner itself");
}
