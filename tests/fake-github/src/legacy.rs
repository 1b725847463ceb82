//! The legacy pipelines tenant (ref §1.4): connectionData, pools and agents, behind the tenant
//! bearer token from runner-registration.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_error;
use crate::registration::{NewRunner, add_runner, is_system_label};
use crate::rsa_key;
use crate::state::{RunnerView, Shared};

const POOLS: &str = "a8c47e17-4d56-4a56-92bb-de7ea7dc65be";
const AGENTS: &str = "e298ef32-5878-4cab-993c-043836571f42";

/// `GET {tenant}/_apis/connectionData` (ref §1.4 "URL discovery"); anonymous is allowed.
pub(crate) async fn connection_data(State(shared): State<Arc<Shared>>) -> Response {
    let definition = |id: &str, resource: &str, path: &str| {
        json!({
            "identifier": id,
            "serviceType": "distributedtask",
            "displayName": resource,
            "relativePath": path,
            "relativeToSetting": 3,
            "minVersion": "1.0",
            "maxVersion": "7.1",
            "releasedVersion": "0.0",
            "resourceVersion": 2,
        })
    };
    Json(json!({
        "authenticatedUser": {"id": "00000000-0000-0000-0000-000000000000"},
        "instanceId": uuid::Uuid::new_v4().to_string(),
        "locationServiceData": {
            "serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7",
            "accessMappings": [{"moniker": "PublicAccessMapping", "accessPoint": shared.url("pipelines")}],
            "defaultAccessMappingMoniker": "PublicAccessMapping",
            "serviceDefinitions": [
                definition(POOLS, "pools", "/_apis/distributedtask/pools/{poolId}"),
                definition(AGENTS, "agents", "/_apis/distributedtask/pools/{poolId}/agents/{agentId}"),
            ],
        },
    }))
    .into_response()
}

/// A refused tenant call: the bearer token is missing or was never handed out.
pub(crate) struct Unauthorised;

impl IntoResponse for Unauthorised {
    fn into_response(self) -> Response {
        api_error::vss(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedRequestException",
            "the tenant token is missing or unknown",
        )
    }
}

fn check_tenant(shared: &Shared, headers: &HeaderMap) -> Result<(), Unauthorised> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(token) if shared.lock().tenant_tokens.iter().any(|t| t == token) => Ok(()),
        _ => Err(Unauthorised),
    }
}

/// `GET pools` (ref §1.4 step 1): `isInternal` marks the default group.
pub(crate) async fn pools(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_tenant(&shared, &headers) {
        return refused.into_response();
    }
    let value: Vec<Value> = shared
        .lock()
        .groups
        .iter()
        .map(|g| json!({"id": g.id, "name": g.name, "isHosted": g.is_hosted, "isInternal": g.default, "poolType": "automation"}))
        .collect();
    Json(json!({"count": value.len(), "value": value})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskAgent {
    name: String,
    #[serde(default)]
    ephemeral: bool,
    #[serde(default)]
    labels: Vec<AgentLabel>,
    authorization: AgentAuthorization,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AgentLabel {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentAuthorization {
    public_key: PublicKey,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PublicKey {
    exponent: String,
    modulus: String,
}

/// `POST pools/{poolId}/agents` (ref §1.4 step 2–3).
pub(crate) async fn add_agent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(pool_id): Path<u64>,
    Json(agent): Json<TaskAgent>,
) -> Response {
    save_agent(&shared, &headers, pool_id, None, agent)
}

/// `PUT pools/{poolId}/agents/{id}` (ref §1.4 step 4): replace with the same body.
pub(crate) async fn replace_agent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((pool_id, agent_id)): Path<(u64, u64)>,
    Json(agent): Json<TaskAgent>,
) -> Response {
    save_agent(&shared, &headers, pool_id, Some(agent_id), agent)
}

fn save_agent(shared: &Shared, headers: &HeaderMap, pool_id: u64, replace: Option<u64>, agent: TaskAgent) -> Response {
    if let Err(refused) = check_tenant(shared, headers) {
        return refused.into_response();
    }
    let key = agent.authorization.public_key;
    let public_key = match rsa_key::from_base64(&key.modulus, &key.exponent) {
        Ok(key) => key,
        Err(error) => {
            return api_error::vss(
                StatusCode::BAD_REQUEST,
                "ArgumentException",
                &format!("invalid publicKey: failed to {error}"),
            );
        }
    };
    let new = NewRunner {
        name: agent.name,
        group_id: pool_id,
        ephemeral: agent.ephemeral,
        labels: agent.labels.into_iter().map(|l| l.name).collect(),
        public_key: public_key.clone(),
        replace,
    };
    match add_runner(shared, new) {
        Ok(view) => Json(agent_json(shared, &view, Some(&public_key))).into_response(),
        Err(refusal) => {
            let type_key = match refusal.message() {
                "agent exists" => "TaskAgentExistsException",
                "agent not found" => "TaskAgentNotFoundException",
                _ => "TaskAgentPoolNotFoundException",
            };
            api_error::vss(StatusCode::CONFLICT, type_key, refusal.message())
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentQuery {
    agent_name: Option<String>,
}

/// `GET pools/{poolId}/agents?agentName=` (ref §1.4 step 4).
pub(crate) async fn list_agents(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(_pool_id): Path<u64>,
    Query(query): Query<AgentQuery>,
) -> Response {
    if let Err(refused) = check_tenant(&shared, &headers) {
        return refused.into_response();
    }
    let value: Vec<Value> = shared
        .runners()
        .iter()
        .filter(|r| query.agent_name.as_deref().is_none_or(|n| r.name == n))
        .map(|r| agent_json(&shared, r, None))
        .collect();
    Json(json!({"count": value.len(), "value": value})).into_response()
}

/// `DELETE pools/{poolId}/agents/{agentId}` (ref §1.4 step 5; the pool id is ignored).
pub(crate) async fn delete_agent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((_pool_id, agent_id)): Path<(u64, u64)>,
) -> Response {
    if let Err(refused) = check_tenant(&shared, &headers) {
        return refused.into_response();
    }
    if shared.delete_runner(agent_id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        api_error::vss(StatusCode::NOT_FOUND, "TaskAgentNotFoundException", "agent not found")
    }
}

fn agent_json(shared: &Shared, view: &RunnerView, key: Option<&rsa::RsaPublicKey>) -> Value {
    let labels: Vec<Value> = view
        .labels
        .iter()
        .map(|name| json!({"name": name, "type": if is_system_label(name) { "system" } else { "user" }}))
        .collect();
    let mut authorization = json!({"authorizationUrl": shared.authorization_url(), "clientId": view.client_id});
    if let Some(key) = key {
        let (modulus, exponent) = rsa_key::to_base64(key);
        authorization["publicKey"] = json!({"exponent": exponent, "modulus": modulus});
    }
    let mut agent = json!({
        "id": view.id,
        "name": view.name,
        "version": "2.336.0",
        "maxParallelism": 1,
        "ephemeral": view.ephemeral,
        "labels": labels,
        "authorization": authorization,
        "properties": {},
    });
    // ref §1.4 step 3: the server forces the broker through typed agent properties.
    if shared.config.legacy_forces_broker {
        agent["properties"] = json!({
            "ServerUrlV2": {"$type": "System.String", "$value": shared.url("broker/")},
            "UseV2Flow": {"$type": "System.Boolean", "$value": true},
            "RequireFipsCryptography": {"$type": "System.Boolean", "$value": true},
        });
    }
    agent
}
