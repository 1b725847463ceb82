//! JIT runner configuration (ref §1.6): the server makes the runner, its key and the three files.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde::Deserialize;
use serde_json::json;

use crate::api_error;
use crate::registration::{NewRunner, add_runner, admin_allowed};
use crate::state::Shared;

#[derive(Debug, Deserialize)]
pub(crate) struct JitBody {
    name: String,
    runner_group_id: u64,
    labels: Vec<String>,
    #[serde(default = "default_work_folder")]
    work_folder: String,
}

fn default_work_folder() -> String {
    "_work".into()
}

/// `POST ENTITY/actions/runners/generate-jitconfig` with a PAT (ref §1.6) → 201
/// `{"runner", "encoded_jit_config"}`; the runner is ephemeral.
pub(crate) async fn generate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<JitBody>,
) -> Response {
    if !admin_allowed(&shared, &headers) {
        return api_error::rest(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    // ref §1.6: 1–100 labels.
    if body.labels.is_empty() || body.labels.len() > 100 {
        return api_error::rest(StatusCode::UNPROCESSABLE_ENTITY, "labels must hold 1 to 100 names");
    }
    // Key generation is slow without optimisations, so it leaves the async workers alone.
    let key = tokio::task::spawn_blocking(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)).await;
    let Ok(Ok(key)) = key else {
        return api_error::rest(StatusCode::INTERNAL_SERVER_ERROR, "key generation failed");
    };
    let new = NewRunner {
        name: body.name,
        group_id: body.runner_group_id,
        ephemeral: true,
        labels: body.labels,
        public_key: key.to_public_key(),
        replace: None,
    };
    let view = match add_runner(&shared, new) {
        Ok(view) => view,
        Err(refusal) => return api_error::rest(StatusCode::CONFLICT, refusal.message()),
    };
    // ref §1.5: the files the official runner writes, camel-case keys.
    let runner_file = json!({
        "agentId": view.id, "agentName": view.name, "poolId": view.group_id, "poolName": "Default",
        "serverUrl": shared.url("pipelines"), "gitHubUrl": "", "workFolder": body.work_folder,
        "ephemeral": true, "useV2Flow": true, "serverUrlV2": shared.url("broker/"),
    });
    let credentials = json!({"scheme": "OAuth", "data": {
        "clientId": view.client_id, "authorizationUrl": shared.authorization_url(),
        "requireFipsCryptography": "True",
    }});
    let files = json!({
        ".runner": STANDARD.encode(runner_file.to_string()),
        ".credentials": STANDARD.encode(credentials.to_string()),
        ".credentials_rsaparams": STANDARD.encode(rsa_params(&key).to_string()),
    });
    let runner = json!({"id": view.id, "name": view.name, "runner_group_id": view.group_id, "ephemeral": true});
    let encoded = STANDARD.encode(files.to_string());
    (StatusCode::CREATED, Json(json!({"runner": runner, "encoded_jit_config": encoded}))).into_response()
}

/// `.credentials_rsaparams` as .NET exports it (ref §1.5): D as long as the modulus, the CRT
/// parts half as long, leading zeros kept.
fn rsa_params(key: &RsaPrivateKey) -> serde_json::Value {
    let size = key.size();
    let padded = |n: &BigUint, len: usize| {
        let bytes = n.to_bytes_be();
        let mut out = vec![0; len.saturating_sub(bytes.len())];
        out.extend_from_slice(&bytes);
        STANDARD.encode(out)
    };
    let zero = BigUint::default();
    let primes = key.primes();
    let (p, q) = (primes.first().unwrap_or(&zero), primes.get(1).unwrap_or(&zero));
    let d = key.d();
    let one = BigUint::from(1u8);
    let dp = d % (p - &one);
    let dq = d % (q - &one);
    let inverse_q = key.crt_coefficient().unwrap_or_default();
    json!({
        "d": padded(d, size), "dp": padded(&dp, size / 2), "dq": padded(&dq, size / 2),
        "exponent": STANDARD.encode(key.e().to_bytes_be()), "inverseQ": padded(&inverse_q, size / 2),
        "modulus": padded(key.n(), size), "p": padded(p, size / 2), "q": padded(q, size / 2),
    })
}
