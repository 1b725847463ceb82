//! A runner registered with the fake and its OAuth tokens, for the broker and run-service tests.
//!
//! The tokens are the runner's own [`OAuthTokens`], behind [`TestTokens`], which counts what
//! the listener asks of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_github::{Config, FakeGithub};
use github::auth::{AccessTokens, AuthError, OAuthTokens};
use github::broker::{Broker, SessionRequest};
use github::files::Registration;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::key::shared_key;

/// The longest any test waits for something the fake should show.
pub const WAIT: Duration = Duration::from_secs(20);

/// The labels the test runner registers with.
pub const LABELS: &[&str] = &["self-hosted", "solstice"];

/// A fake whose empty polls end after `long_poll`.
pub async fn fake(long_poll: Duration) -> FakeGithub {
    FakeGithub::start(Config { long_poll, ..Config::default() }).await.expect("start the fake")
}

pub struct TestRunner {
    pub id: u64,
    pub tokens: Arc<TestTokens>,
    pub broker: Broker,
    pub request: SessionRequest,
}

/// Registers a runner through the runner-admin flow (ref §1.3) with the test binary's shared
/// key (a fresh key per test is slow without optimisations) and gives it a broker client.
pub async fn runner(fake: &FakeGithub) -> TestRunner {
    let http = github::http::client().expect("http client");
    let labels: Vec<Value> = LABELS.iter().map(|name| json!({"id": 0, "name": name, "type": "system"})).collect();
    let answer: Value = http
        .post(format!("{}actions/runners/register", fake.api_url()))
        .header("Authorization", format!("RemoteAuth {}", fake.registration_token()))
        .json(&json!({
            "url": fake.repo_url("octo", "hello"), "group_id": 1, "name": "solstice-1",
            "version": github::RUNNER_VERSION, "updates_disabled": true, "ephemeral": false,
            "labels": labels, "public_key": shared_key().xml_public_key(),
        }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("register answer");
    let auth = &answer["authorization"];
    let id = answer["id"].as_u64().expect("runner id");
    let registration = Registration {
        agent_id: id,
        client_id: auth["client_id"].as_str().expect("client id").to_owned(),
        authorization_url: auth["authorization_url"].as_str().expect("authorization url").to_owned(),
        broker_url: Some(auth["server_url"].as_str().expect("broker url").to_owned()),
        ..crate::files::sample()
    };
    let tokens = Arc::new(TestTokens {
        inner: OAuthTokens::new(http.clone(), &registration, shared_key().clone()),
        seen: Mutex::new(Vec::new()),
        asked: watch::channel(0).0,
        minted: watch::channel(0).0,
    });
    let broker = Broker::new(http, registration.broker_url.clone().unwrap_or_default(), tokens.clone());
    TestRunner { id, tokens, broker, request: SessionRequest::new(id, "solstice-1") }
}

/// The runner's OAuth tokens, counting what was asked and how many different tokens came back.
pub struct TestTokens {
    inner: OAuthTokens,
    seen: Mutex<Vec<String>>,
    /// How many times a token was asked for: one per call made with it.
    pub asked: watch::Sender<u32>,
    /// How many different tokens were handed out.
    pub minted: watch::Sender<u32>,
}

#[async_trait::async_trait]
impl AccessTokens for TestTokens {
    async fn access_token(&self) -> Result<String, AuthError> {
        self.asked.send_modify(|n| *n += 1);
        let token = self.inner.access_token().await?;
        let mut seen = self.seen.lock().unwrap();
        if !seen.contains(&token) {
            seen.push(token.clone());
            self.minted.send_replace(seen.len() as u32);
        }
        Ok(token)
    }

    fn invalidate(&self, token: &str) {
        self.inner.invalidate(token);
    }
}
