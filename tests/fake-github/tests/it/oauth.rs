//! The OAuth token endpoint (ref §2): a JWT signed with the registered key, PS256 or RS256.

use fake_github::{Config, FakeGithub};
use reqwest::StatusCode;
use serde_json::Value;

use crate::registration::{http, register_v2};
use crate::runner_key::{self, Alg};

pub async fn exchange(url: &str, assertion: &str) -> (StatusCode, Value) {
    let answer = http()
        .post(url)
        .header("Accept", "application/json")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .expect("post token");
    let status = answer.status();
    (status, answer.json().await.expect("token answer is JSON"))
}

pub async fn registered(fake: &FakeGithub) -> (String, String) {
    let answer = register_v2(fake, "solstice-1", runner_key::key()).await;
    let auth = &answer["authorization"];
    (
        auth["authorization_url"].as_str().expect("url").to_string(),
        auth["client_id"].as_str().expect("client id").to_string(),
    )
}

#[tokio::test]
async fn token_is_issued_for_ps256_and_rs256_assertions_signed_with_the_registered_key() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let (url, client_id) = registered(&fake).await;
    for alg in [Alg::Ps256, Alg::Rs256] {
        let jwt = runner_key::jwt(runner_key::key(), alg, &runner_key::claims(&client_id, &url));
        let (status, body) = exchange(&url, &jwt).await;
        assert_eq!(status, StatusCode::OK, "{alg:?}: {body}");
        assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{alg:?}");
        assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0));
    }
}

#[tokio::test]
async fn token_is_refused_for_wrong_key_audience_subject_expiry_and_unknown_client() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let (url, client_id) = registered(&fake).await;
    let good = runner_key::claims(&client_id, &url);
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    let now = good["nbf"].as_i64().expect("nbf");
    let cases = [
        ("other key", runner_key::jwt(runner_key::other_key(), Alg::Ps256, &good), "invalid_client"),
        (
            "wrong aud",
            runner_key::jwt(runner_key::key(), Alg::Ps256, &with("aud", format!("{url}/x").into())),
            "invalid_client",
        ),
        ("wrong sub", runner_key::jwt(runner_key::key(), Alg::Rs256, &with("sub", "someone".into())), "invalid_client"),
        ("expired", runner_key::jwt(runner_key::key(), Alg::Rs256, &with("exp", (now - 10).into())), "invalid_client"),
        (
            "not yet valid",
            runner_key::jwt(runner_key::key(), Alg::Ps256, &with("nbf", (now + 3600).into())),
            "invalid_client",
        ),
        (
            "unknown client",
            runner_key::jwt(runner_key::key(), Alg::Ps256, &runner_key::claims("nobody", &url)),
            "invalid_client",
        ),
        ("garbage", "a.b".to_string(), "invalid_client"),
    ];
    for (name, jwt, error) in cases {
        let (status, body) = exchange(&url, &jwt).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["error"], error, "{name}: {body}");
        assert!(body.get("access_token").is_none(), "{name}");
    }
    let (_, expired) =
        exchange(&url, &runner_key::jwt(runner_key::key(), Alg::Rs256, &with("exp", (now - 10).into()))).await;
    assert!(expired["error_description"].as_str().is_some_and(|d| d.contains("Current server time is")));
    let (_, unknown) =
        exchange(&url, &runner_key::jwt(runner_key::key(), Alg::Ps256, &runner_key::claims("nobody", &url))).await;
    assert_eq!(unknown["error_description"], "Registration nobody was not found");
}

#[tokio::test]
async fn deleted_runner_gets_invalid_client() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let (url, client_id) = registered(&fake).await;
    let id = fake.runners()[0].id;
    assert!(fake.delete_runner(id));
    let jwt = runner_key::jwt(runner_key::key(), Alg::Ps256, &runner_key::claims(&client_id, &url));
    let (status, body) = exchange(&url, &jwt).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_description"], format!("Registration {client_id} was not found"));
}
