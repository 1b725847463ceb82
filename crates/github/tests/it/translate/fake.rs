//! The job message as the fake GitHub sends it: a JIT runner (ref §1.6) gets an OAuth token
//! (ref §2), opens a session, polls the job and acquires it (ref §3.3, §4.1). Plain HTTP, so
//! these tests read the fake's message without depending on the rest of the runner.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use fake_github::{Config, FakeGithub, JobSpec};
use rsa::sha2::Sha256;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use serde_json::{Value, json};

fn http() -> reqwest::Client {
    reqwest::Client::builder().user_agent("GitHubActionsRunner-Linux-X64/2.336.0").build().unwrap()
}

async fn post(url: String, bearer: &str, body: Value) -> Value {
    let answer = http().post(url).bearer_auth(bearer).json(&body).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.json().await.unwrap()
}

/// Starts a fake, queues `spec` for a JIT runner labelled `illumos` and returns the fake and
/// the `AgentJobRequestMessage` acquirejob answered.
pub async fn acquired(spec: JobSpec) -> (FakeGithub, Value) {
    let fake = FakeGithub::start(Config { long_poll: std::time::Duration::from_millis(300), ..Config::default() })
        .await
        .unwrap();
    let answer = post(
        format!("{}repos/octo/hello/actions/runners/generate-jitconfig", fake.api_url()),
        &fake.admin_token(),
        json!({"name": "jit-1", "runner_group_id": 1, "labels": ["self-hosted", "illumos"]}),
    )
    .await;
    let files: Value =
        serde_json::from_slice(&STANDARD.decode(answer["encoded_jit_config"].as_str().unwrap()).unwrap()).unwrap();
    let file = |name: &str| -> Value {
        serde_json::from_slice(&STANDARD.decode(files[name].as_str().unwrap()).unwrap()).unwrap()
    };
    let (runner, credentials, params) = (file(".runner"), file(".credentials"), file(".credentials_rsaparams"));
    let number = |key: &str| rsa::BigUint::from_bytes_be(&STANDARD.decode(params[key].as_str().unwrap()).unwrap());
    let key = rsa::RsaPrivateKey::from_components(
        number("modulus"),
        number("exponent"),
        number("d"),
        vec![number("p"), number("q")],
    )
    .unwrap();
    let token_url = credentials["data"]["authorizationUrl"].as_str().unwrap();
    let client_id = credentials["data"]["clientId"].as_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({"iss": client_id, "sub": client_id, "aud": token_url, "nbf": now, "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string()});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "PS256"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = rsa::pss::BlindedSigningKey::<Sha256>::new(key)
        .sign_with_rng(&mut rsa::rand_core::OsRng, signed.as_bytes())
        .to_vec();
    let token: Value = http()
        .post(token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_owned();

    fake.queue(spec);
    let broker = runner["serverUrlV2"].as_str().map_or_else(|| format!("{}/broker/", fake.base_url()), str::to_owned);
    let session = post(
        format!("{broker}session"),
        &bearer,
        json!({"sessionId": "00000000-0000-0000-0000-000000000000", "ownerName": "test",
            "agent": {"id": runner["agentId"], "name": "jit-1", "version": "2.336.0", "osDescription": "illumos"}}),
    )
    .await;
    let poll = http()
        .get(format!(
            "{broker}message?sessionId={}&status=Online&runnerVersion=2.336.0&os=Linux&architecture=X64&disableUpdate=true",
            session["sessionId"].as_str().unwrap()
        ))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    let envelope: Value = poll.json().await.unwrap();
    let body: Value = serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap();
    let message = post(
        format!("{}acquirejob", body["run_service_url"].as_str().unwrap()),
        &bearer,
        json!({"jobMessageId": body["runner_request_id"], "runnerOS": "Linux", "billingOwnerId": body["billing_owner_id"]}),
    )
    .await;
    (fake, message)
}

#[tokio::test]
async fn the_fakes_job_message_becomes_a_job_request() {
    use contract::{StepKind, Template};
    use github::translate::translate;

    let mut spec = JobSpec::new("build", &["illumos"], &[("hello", "echo hello"), ("world", "echo ${{ x }}")]);
    spec.secrets.push(("DEPLOY_KEY".into(), "hunter2".into()));
    spec.outputs.push(("v".into(), "steps.hello.outputs.v".into()));
    let (fake, message) = acquired(spec).await;
    let key = super::key();
    let translated = translate(&message, &super::settings(&key)).unwrap();
    let (request, context) = (&translated.request, &translated.context);

    let steps: Vec<_> = request.steps.iter().map(|s| (s.index, s.id.as_str(), s.kind, s.run.clone())).collect();
    assert_eq!(
        steps,
        [
            (0, "hello", StepKind::Run, Some(Template::literal("echo hello"))),
            (1, "world", StepKind::Run, Some(Template::literal("echo ${{ x }}"))),
        ]
    );
    assert_eq!(request.outputs["v"], Template::expr("steps.hello.outputs.v"));
    assert_eq!(request.contexts.github["repository"], "octo/hello");
    assert_eq!(request.contexts.matrix, Value::Null);
    assert_eq!(request.job_key, "build");
    assert_eq!(request.workspace.repository_url, format!("{}/octo/hello.git", fake.base_url()));

    assert_eq!(context.job_id, message["jobId"].as_str().unwrap());
    assert_eq!(context.run_service_url, format!("{}/run/", fake.base_url()));
    assert_eq!(context.results_url, Some(format!("{}/results/", fake.base_url())));
    assert!(context.feed_stream_url.as_deref().is_some_and(|u| u.starts_with("ws://127.0.0.1:")));
    let ids: Vec<&str> = message["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    let refs: Vec<&str> = context.steps.iter().map(|s| s.external_id.as_str()).collect();
    assert_eq!(refs, ids);
    assert_eq!(request.steps[1].forge_ref.as_deref(), Some(ids[1]));

    let secrets = request.open_secrets(&key.to_base64()).unwrap();
    assert_eq!(secrets["DEPLOY_KEY"].expose(), "hunter2");
    assert_eq!(secrets["GITHUB_TOKEN"].expose(), context.job_token);
    assert!(!serde_json::to_string(request).unwrap().contains("hunter2"));
    assert!(translated.masks.iter().any(|m| m.expose() == "hunter2"));
}
