//! Tests of github::auth: the runner's OAuth access token (ref §2) against the fake's token
//! endpoint, which checks our JWT with the registered key.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fake_github::{Config, FakeGithub};
use github::auth::{AccessTokens, AuthError, OAuthTokens};
use github::files::Registration;
use github::key::{JwtAlgorithm, RunnerKey};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::registration::configured;

fn tokens(registration: &Registration, key: RunnerKey) -> OAuthTokens {
    OAuthTokens::new(github::http::client().unwrap(), registration, key)
}

fn jwt_part(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// What the broker says to a token: `DELETE {broker}session` needs a valid runner token only.
async fn broker_accepts(registration: &Registration, token: &str) -> bool {
    let url = format!("{}session", registration.broker_url.as_deref().unwrap());
    let answer = reqwest::Client::new().delete(url).bearer_auth(token).send().await.unwrap();
    match answer.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("unexpected broker answer {other}"),
    }
}

#[tokio::test]
async fn the_fake_accepts_our_assertions_signed_ps256_and_rs256() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let (_, registration, key) = configured(&fake, "auth-algs").await;
    let fips = tokens(&registration, key.clone());
    assert_eq!(fips.algorithm(), JwtAlgorithm::Ps256);
    assert_eq!(jwt_part(&fips.client_assertion().unwrap(), 0)["alg"], "PS256");
    assert!(fips.access_token().await.is_ok());

    // ref §2: RS256 when neither FIPS nor a broker URL asks for PS256.
    let plain = Registration { require_fips: false, broker_url: None, ..registration.clone() };
    let plain = tokens(&plain, key.clone());
    assert_eq!(plain.algorithm(), JwtAlgorithm::Rs256);
    assert_eq!(jwt_part(&plain.client_assertion().unwrap(), 0)["alg"], "RS256");
    let token = plain.access_token().await.unwrap();
    assert!(broker_accepts(&registration, &token).await);

    // A broker URL alone is enough for PS256 (github-act-runner's rule).
    let broker_only = Registration { require_fips: false, ..registration };
    assert_eq!(tokens(&broker_only, key).algorithm(), JwtAlgorithm::Ps256);
}

#[tokio::test]
async fn assertions_name_the_client_and_the_token_url_and_live_five_minutes() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let (_, registration, key) = configured(&fake, "auth-claims").await;
    let tokens = tokens(&registration, key);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let first = jwt_part(&tokens.client_assertion().unwrap(), 1);
    let second = jwt_part(&tokens.client_assertion().unwrap(), 1);
    assert_eq!(first["iss"], registration.client_id);
    assert_eq!(first["sub"], registration.client_id);
    assert_eq!(first["aud"], format!("{}/oauth/token", fake.base_url()));
    let nbf = first["nbf"].as_i64().unwrap();
    assert!((now - 32..=now - 28).contains(&nbf), "nbf {nbf} is 30 s before {now}");
    assert_eq!(first["exp"].as_i64().unwrap() - nbf, 330, "exp is 5 minutes after now");
    assert_ne!(first["jti"], second["jti"], "a new jti per assertion");
}

#[tokio::test]
async fn a_token_is_cached_shared_by_concurrent_callers_and_replaced_after_invalidate() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let (_, registration, key) = configured(&fake, "auth-cache").await;
    let tokens = Arc::new(tokens(&registration, key));
    let callers: Vec<_> = (0..5)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.access_token().await.unwrap() })
        })
        .collect();
    let mut minted = Vec::new();
    for caller in callers {
        minted.push(caller.await.unwrap());
    }
    minted.dedup();
    assert_eq!(minted.len(), 1, "one mint for five concurrent callers");
    let first = minted.remove(0);
    assert_eq!(tokens.access_token().await.unwrap(), first, "cached");
    assert!(broker_accepts(&registration, &first).await);

    fake.expire_tokens();
    assert!(!broker_accepts(&registration, &first).await, "the fake refuses the old token now");
    tokens.invalidate("some older token");
    assert_eq!(tokens.access_token().await.unwrap(), first, "invalidating another token changes nothing");
    tokens.invalidate(&first);
    let second = tokens.access_token().await.unwrap();
    assert_ne!(second, first);
    assert!(broker_accepts(&registration, &second).await);
}

#[tokio::test]
async fn a_deleted_runner_gets_invalid_client() {
    let fake = FakeGithub::start(Config::default()).await.unwrap();
    let (_, registration, key) = configured(&fake, "auth-deleted").await;
    let tokens = tokens(&registration, key);
    let token = tokens.access_token().await.unwrap();
    assert!(fake.delete_runner(registration.agent_id));
    tokens.invalidate(&token);
    let error = tokens.access_token().await.unwrap_err();
    assert!(matches!(error, AuthError::InvalidClient(_)), "{error:?}");
    assert!(error.registration_gone());
    assert!(error.to_string().contains(&format!("Registration {} was not found", registration.client_id)), "{error}");
}

#[tokio::test]
async fn no_answer_from_the_token_url_is_transient() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/token", closed.local_addr().unwrap());
    drop(closed);
    let registration = Registration { authorization_url: url, ..crate::files::sample() };
    let error = tokens(&registration, crate::key::shared_key().clone()).access_token().await.unwrap_err();
    assert!(matches!(error, AuthError::Transient(_)), "{error:?}");
    assert!(!error.registration_gone());
}

/// A token endpoint that answers every request with `body` and counts the requests.
async fn token_endpoint(body: &'static str) -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let (seen, requests) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            // The form body is small; the request is complete once the body after the head is.
            while let Ok(n) = stream.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if rest.len() >= length {
                        break;
                    }
                }
            }
            let _ = seen.send(());
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (url, requests)
}

#[tokio::test]
async fn a_token_about_to_expire_is_minted_again_and_one_without_a_lifetime_is_kept() {
    // expires_in 0 (as a string, as some servers send it): stale at once, so every call mints.
    let (url, mut requests) =
        token_endpoint(r#"{"access_token":"short","token_type":"bearer","expires_in":"0"}"#).await;
    let registration = Registration { authorization_url: url, ..crate::files::sample() };
    let short = tokens(&registration, crate::key::shared_key().clone());
    for _ in 0..2 {
        assert_eq!(short.access_token().await.unwrap(), "short");
        requests.recv().await.unwrap();
    }

    // No expires_in: kept until invalidated, as the official runner keeps it until a 401.
    let (url, mut requests) = token_endpoint(r#"{"access_token":"long","token_type":"bearer"}"#).await;
    let registration = Registration { authorization_url: url, ..crate::files::sample() };
    let long = tokens(&registration, crate::key::shared_key().clone());
    assert_eq!(long.access_token().await.unwrap(), "long");
    assert_eq!(long.access_token().await.unwrap(), "long");
    requests.recv().await.unwrap();
    assert!(requests.try_recv().is_err(), "one mint only");
}
