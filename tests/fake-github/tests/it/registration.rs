//! Registration (ref §1): runner-registration, runner groups, runner-admin register, the legacy
//! pools/agents variant, removal.

use fake_github::{Config, FakeGithub};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::runner_key;

pub const UA: &str = "GitHubActionsRunner-Linux-X64/2.336.0";

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().user_agent(UA).build().expect("build a reqwest client")
}

pub async fn runner_registration(fake: &FakeGithub, token: &str, event: &str) -> reqwest::Response {
    http()
        .post(format!("{}actions/runner-registration", fake.api_url()))
        .header("Authorization", format!("RemoteAuth {token}"))
        .json(&json!({"url": fake.repo_url("octo", "hello"), "runner_event": event}))
        .send()
        .await
        .expect("post runner-registration")
}

/// Registers a runner through the runner-admin flow (ref §1.3) and returns the answer.
pub async fn register_v2(fake: &FakeGithub, name: &str, key: &rsa::RsaPrivateKey) -> Value {
    let token = fake.registration_token();
    let answer = register_v2_with(fake, &token, name, 1, &runner_key::xml(key)).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    answer.json().await.expect("register answer is JSON")
}

async fn register_v2_with(
    fake: &FakeGithub,
    token: &str,
    name: &str,
    group: u64,
    public_key: &str,
) -> reqwest::Response {
    http()
        .post(format!("{}actions/runners/register", fake.api_url()))
        .header("Authorization", format!("RemoteAuth {token}"))
        .json(&json!({
            "url": fake.repo_url("octo", "hello"), "group_id": group, "name": name,
            "version": "2.336.0", "updates_disabled": true, "ephemeral": true,
            "labels": [{"id": 0, "name": "self-hosted", "type": "system"},
                       {"id": 0, "name": "illumos", "type": "custom"}],
            "public_key": public_key,
        }))
        .send()
        .await
        .expect("post register")
}

#[tokio::test]
async fn runner_registration_answers_tenant_and_flow_for_a_valid_token_only() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let token = fake.registration_token();
    let answer = runner_registration(&fake, &token, "register").await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["url"], format!("{}/pipelines", fake.base_url()));
    assert_eq!(body["token_schema"], "OAuthAccessToken");
    assert_eq!(body["use_v2_flow"], true);
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));

    let bad = runner_registration(&fake, "NOT-A-TOKEN", "register").await;
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
    // A remove token does not register, and a registration token does not remove.
    let remove = fake.remove_token();
    assert_eq!(runner_registration(&fake, &remove, "register").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(runner_registration(&fake, &remove, "remove").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn runner_groups_list_the_default_and_a_hosted_group() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let token = fake.registration_token();
    let body: Value = http()
        .get(format!("{}repos/octo/hello/actions/runner-groups", fake.api_url()))
        .header("Authorization", format!("RemoteAuth {token}"))
        .send()
        .await
        .expect("get groups")
        .json()
        .await
        .expect("json");
    let groups = body["runner_groups"].as_array().expect("groups array");
    assert_eq!(body["total_count"], groups.len());
    assert!(groups.iter().any(|g| g["default"] == true && g["is_hosted"] == false));
    assert!(groups.iter().any(|g| g["is_hosted"] == true));
}

#[tokio::test]
async fn runner_admin_register_with_the_xml_key_shows_the_runner() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let answer = register_v2(&fake, "solstice-1", runner_key::key()).await;
    let auth = &answer["authorization"];
    assert_eq!(auth["authorization_url"], format!("{}/oauth/token", fake.base_url()));
    assert_eq!(auth["server_url"], format!("{}/broker/", fake.base_url()));
    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].name, "solstice-1");
    assert_eq!(runners[0].labels, ["self-hosted", "illumos"]);
    assert!(runners[0].ephemeral);
    assert_eq!(answer["id"], runners[0].id);
    assert_eq!(auth["client_id"], runners[0].client_id);
}

#[tokio::test]
async fn runner_admin_register_refuses_bad_keys_hosted_groups_and_duplicate_names() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let token = fake.registration_token();
    let xml = runner_key::xml(runner_key::key());
    let not_xml = register_v2_with(&fake, &token, "a", 1, "{\"modulus\":1}").await;
    assert_eq!(not_xml.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let hosted = register_v2_with(&fake, &token, "a", 2, &xml).await;
    assert_eq!(hosted.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let no_group = register_v2_with(&fake, &token, "a", 99, &xml).await;
    assert_eq!(no_group.status(), StatusCode::NOT_FOUND);
    let wrong_token = register_v2_with(&fake, "nope", "a", 1, &xml).await;
    assert_eq!(wrong_token.status(), StatusCode::NOT_FOUND);
    assert_eq!(register_v2_with(&fake, &token, "a", 1, &xml).await.status(), StatusCode::CREATED);
    assert_eq!(register_v2_with(&fake, &token, "a", 1, &xml).await.status(), StatusCode::CONFLICT);
    assert_eq!(fake.runners().len(), 1);
}

#[tokio::test]
async fn runner_is_found_by_name_and_deleted_with_a_remove_token() {
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    register_v2(&fake, "solstice-1", runner_key::key()).await;
    let remove = fake.remove_token();
    let found: Value = http()
        .get(format!("{}repos/octo/hello/actions/runners?name=solstice-1", fake.api_url()))
        .header("Authorization", format!("RemoteAuth {remove}"))
        .send()
        .await
        .expect("get runners")
        .json()
        .await
        .expect("json");
    assert_eq!(found["total_count"], 1);
    let id = found["runners"][0]["id"].as_u64().expect("runner id");
    let delete = |token: String| {
        http()
            .delete(format!("{}repos/octo/hello/actions/runners/{id}", fake.api_url()))
            .header("Authorization", format!("RemoteAuth {token}"))
            .send()
    };
    let with_registration_token = delete(fake.registration_token()).await.expect("delete");
    assert_eq!(with_registration_token.status(), StatusCode::NOT_FOUND);
    assert_eq!(fake.runners().len(), 1);
    assert_eq!(delete(remove.clone()).await.expect("delete").status(), StatusCode::NO_CONTENT);
    assert!(fake.runners().is_empty());
}

#[tokio::test]
async fn legacy_flow_registers_an_agent_through_connection_data_and_pools() {
    let config = Config { use_v2_flow: false, ..Config::default() };
    let fake = FakeGithub::start(config).await.expect("start");
    let token = fake.registration_token();
    let tenant: Value = runner_registration(&fake, &token, "register").await.json().await.expect("json");
    assert_eq!(tenant["use_v2_flow"], false);
    let tenant_url = tenant["url"].as_str().expect("tenant url");
    let bearer = format!("Bearer {}", tenant["token"].as_str().expect("tenant token"));

    let data: Value = http()
        .get(format!("{tenant_url}/_apis/connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1"))
        .send()
        .await
        .expect("connectionData")
        .json()
        .await
        .expect("json");
    let definitions = data["locationServiceData"]["serviceDefinitions"].as_array().expect("defs");
    let route = |id: &str| {
        definitions
            .iter()
            .find(|d| d["identifier"] == id)
            .and_then(|d| d["relativePath"].as_str())
            .expect("route present")
            .to_string()
    };
    let pools_route = route("a8c47e17-4d56-4a56-92bb-de7ea7dc65be").replace("/{poolId}", "");
    let pools: Value = http()
        .get(format!("{tenant_url}{pools_route}?poolName=&poolType=Automation"))
        .header("Authorization", &bearer)
        .send()
        .await
        .expect("pools")
        .json()
        .await
        .expect("json");
    let pool =
        pools["value"].as_array().expect("pools").iter().find(|p| p["isHosted"] == false).expect("a self-hosted pool");
    let pool_id = pool["id"].as_u64().expect("pool id");

    let agents_route = route("e298ef32-5878-4cab-993c-043836571f42")
        .replace("{poolId}", &pool_id.to_string())
        .replace("/{agentId}", "");
    let agent = json!({
        "name": "legacy-1", "version": "2.336.0", "osDescription": "illumos", "maxParallelism": 1,
        "ephemeral": false, "disableUpdate": true,
        "labels": [{"name": "self-hosted", "type": "system"}, {"name": "illumos", "type": "user"}],
        "authorization": {"publicKey": runner_key::legacy(runner_key::key())},
    });
    let unauthorised = http().post(format!("{tenant_url}{agents_route}")).json(&agent).send().await.expect("post");
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
    let added = http()
        .post(format!("{tenant_url}{agents_route}"))
        .header("Authorization", &bearer)
        .json(&agent)
        .send()
        .await
        .expect("add agent");
    assert_eq!(added.status(), StatusCode::OK);
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["authorization"]["authorizationUrl"], format!("{}/oauth/token", fake.base_url()));
    assert_eq!(added["properties"]["ServerUrlV2"]["$value"], format!("{}/broker/", fake.base_url()));
    assert_eq!(added["properties"]["UseV2Flow"]["$value"], true);
    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(added["authorization"]["clientId"], runners[0].client_id);

    let id = added["id"].as_u64().expect("agent id");
    let deleted = http()
        .delete(format!("{tenant_url}/_apis/distributedtask/pools/0/agents/{id}"))
        .header("Authorization", &bearer)
        .send()
        .await
        .expect("delete agent");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(fake.runners().is_empty());
}

#[tokio::test]
async fn pat_mints_registration_and_remove_tokens_that_work() {
    use base64::Engine;
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let pat = fake.admin_token();
    let basic = format!("basic {}", base64::engine::general_purpose::STANDARD.encode(format!("github:{pat}")));
    let mint = |kind: &str, auth: String| {
        http()
            .post(format!("{}repos/octo/hello/actions/runners/{kind}", fake.api_url()))
            .header("Authorization", auth)
            .header("Accept", "application/vnd.github.v3+json")
            .send()
    };
    let refused = mint("registration-token", "basic Z2l0aHViOm5vcGU=".into()).await.expect("mint");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let minted = mint("registration-token", basic.clone()).await.expect("mint");
    assert_eq!(minted.status(), StatusCode::CREATED);
    let minted: Value = minted.json().await.expect("json");
    assert!(minted["expires_at"].as_str().is_some());
    let token = minted["token"].as_str().expect("token");
    assert_eq!(runner_registration(&fake, token, "register").await.status(), StatusCode::OK);
    let remove: Value = mint("remove-token", basic).await.expect("mint").json().await.expect("json");
    let remove = remove["token"].as_str().expect("token");
    assert_eq!(runner_registration(&fake, remove, "remove").await.status(), StatusCode::OK);
    assert_eq!(runner_registration(&fake, remove, "register").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn jit_config_holds_the_three_files_and_its_key_gets_a_token() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let fake = FakeGithub::start(Config::default()).await.expect("start");
    let pat = fake.admin_token();
    let answer = http()
        .post(format!("{}repos/octo/hello/actions/runners/generate-jitconfig", fake.api_url()))
        .header("Authorization", format!("Bearer {pat}"))
        .json(&json!({"name": "jit-1", "runner_group_id": 1, "labels": ["self-hosted", "illumos"], "work_folder": "_work"}))
        .send()
        .await
        .expect("generate");
    assert_eq!(answer.status(), StatusCode::CREATED);
    let answer: Value = answer.json().await.expect("json");
    let files: Value = serde_json::from_slice(
        &STANDARD.decode(answer["encoded_jit_config"].as_str().expect("config")).expect("base64"),
    )
    .expect("json files");
    let file = |name: &str| -> Value {
        serde_json::from_slice(&STANDARD.decode(files[name].as_str().expect("file")).expect("base64")).expect("json")
    };
    let (runner, credentials, params) = (file(".runner"), file(".credentials"), file(".credentials_rsaparams"));
    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert!(runners[0].ephemeral);
    assert_eq!(runner["agentId"], runners[0].id);
    assert_eq!(answer["runner"]["id"], runners[0].id);
    assert_eq!(credentials["data"]["clientId"], runners[0].client_id);

    let number = |key: &str| {
        rsa::BigUint::from_bytes_be(&STANDARD.decode(params[key].as_str().expect("param")).expect("base64"))
    };
    let key = rsa::RsaPrivateKey::from_components(
        number("modulus"),
        number("exponent"),
        number("d"),
        vec![number("p"), number("q")],
    )
    .expect("key from rsaparams");
    let url = credentials["data"]["authorizationUrl"].as_str().expect("url");
    let client_id = credentials["data"]["clientId"].as_str().expect("client id");
    let jwt = runner_key::jwt(&key, runner_key::Alg::Ps256, &runner_key::claims(client_id, url));
    let (status, token) = crate::oauth::exchange(url, &jwt).await;
    assert_eq!(status, StatusCode::OK, "{token}");
}
