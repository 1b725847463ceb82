//! Registration on api.github.com: `runner-registration` (ref §1.1), runner groups, runners and
//! the runner-admin register call (ref §1.3).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_error;
use crate::rsa_key;
use crate::state::{Runner, RunnerView, Shared, TokenKind};

/// The token of an `Authorization: RemoteAuth <token>` header (ref §0 "Three token kinds").
fn remote_auth(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("RemoteAuth").then(|| token.trim().to_string())
}

/// Why a registration-token call was refused.
pub(crate) enum Denied {
    NoToken,
    BadToken,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::NoToken => api_error::rest(StatusCode::UNAUTHORIZED, "Requires authentication"),
            // ref §1.1: a bad or expired token is a 404, which the official runner does not retry.
            Denied::BadToken => api_error::rest(StatusCode::NOT_FOUND, "Not Found"),
        }
    }
}

fn check_token(shared: &Shared, headers: &HeaderMap, kind: TokenKind) -> Result<(), Denied> {
    let token = remote_auth(headers).ok_or(Denied::NoToken)?;
    match shared.lock().registration_tokens.get(&token) {
        Some(found) if *found == kind => Ok(()),
        _ => Err(Denied::BadToken),
    }
}

/// The PAT of `Authorization: basic base64("github:<PAT>")` (the official client, ref §1.1) or
/// of the usual `Bearer`/`token` schemes.
fn admin_token(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(credential.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        return decoded.split_once(':').map(|(_, pat)| pat.to_string());
    }
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| credential.trim().to_string())
}

/// Whether the request carries a known PAT with runner-admin rights.
pub(crate) fn admin_allowed(shared: &Shared, headers: &HeaderMap) -> bool {
    admin_token(headers).is_some_and(|pat| shared.lock().admin_tokens.contains(&pat))
}

fn mint(shared: &Shared, headers: &HeaderMap, kind: TokenKind) -> Response {
    if !admin_allowed(shared, headers) {
        return api_error::rest(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let token = shared.mint_registration_token(kind);
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let expires = expires.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    (StatusCode::CREATED, Json(json!({"token": token, "expires_at": expires}))).into_response()
}

/// `POST ENTITY/actions/runners/registration-token` with a PAT (ref §1.1).
pub(crate) async fn mint_registration_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    mint(&shared, &headers, TokenKind::Register)
}

/// `POST ENTITY/actions/runners/remove-token` with a PAT (ref §1.1).
pub(crate) async fn mint_remove_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    mint(&shared, &headers, TokenKind::Remove)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegistrationBody {
    url: String,
    runner_event: String,
}

/// `POST /actions/runner-registration` (ref §1.1): registration or remove token → tenant URL and
/// a tenant bearer token, plus which flow to follow.
pub(crate) async fn runner_registration(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<RegistrationBody>,
) -> Response {
    let kind = match body.runner_event.as_str() {
        "register" => TokenKind::Register,
        "remove" => TokenKind::Remove,
        _ => return api_error::rest(StatusCode::UNPROCESSABLE_ENTITY, "unknown runner_event"),
    };
    if let Err(refused) = check_token(&shared, &headers, kind) {
        return refused.into_response();
    }
    // ref §0 User-Agent: answers depend on it, so a client that sends none is a bug to surface.
    if headers.get("user-agent").is_none() {
        return api_error::rest(StatusCode::FORBIDDEN, "a User-Agent header is required");
    }
    if !body.url.starts_with(&shared.base) {
        return api_error::rest(StatusCode::NOT_FOUND, "Not Found");
    }
    let token = format!("tenant-{}", uuid::Uuid::new_v4().simple());
    shared.lock().tenant_tokens.push(token.clone());
    Json(json!({
        "url": shared.url("pipelines"),
        "token_schema": "OAuthAccessToken",
        "token": token,
        "use_v2_flow": shared.config.use_v2_flow,
    }))
    .into_response()
}

/// `GET ENTITY/runner-groups` (ref §1.3).
pub(crate) async fn runner_groups(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_token(&shared, &headers, TokenKind::Register) {
        return refused.into_response();
    }
    let groups: Vec<Value> = shared
        .lock()
        .groups
        .iter()
        .map(|g| json!({"id": g.id, "name": g.name, "default": g.default, "is_hosted": g.is_hosted}))
        .collect();
    Json(json!({"total_count": groups.len(), "runner_groups": groups})).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunnerQuery {
    name: Option<String>,
}

/// `GET ENTITY/runners?name=<name>` (ref §1.3).
pub(crate) async fn list_runners(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<RunnerQuery>,
) -> Response {
    let allowed = check_token(&shared, &headers, TokenKind::Register)
        .or_else(|_| check_token(&shared, &headers, TokenKind::Remove));
    if let Err(refused) = allowed {
        return refused.into_response();
    }
    let runners: Vec<Value> = shared
        .runners()
        .iter()
        .filter(|r| query.name.as_deref().is_none_or(|name| r.name == name))
        .map(runner_json)
        .collect();
    Json(json!({"total_count": runners.len(), "runners": runners})).into_response()
}

/// `DELETE ENTITY/runners/{id}` with a remove token (ref §1.3).
pub(crate) async fn delete_runner(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = check_token(&shared, &headers, TokenKind::Remove) {
        return refused.into_response();
    }
    let id = params.iter().find(|(k, _)| k == "id").and_then(|(_, v)| v.parse::<u64>().ok());
    match id {
        Some(id) if shared.delete_runner(id) => StatusCode::NO_CONTENT.into_response(),
        _ => api_error::rest(StatusCode::NOT_FOUND, "Not Found"),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegisterBody {
    url: String,
    group_id: u64,
    name: String,
    #[serde(default)]
    ephemeral: bool,
    #[serde(default)]
    labels: Vec<Label>,
    public_key: String,
    runner_id: Option<u64>,
    #[serde(default)]
    replace: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Label {
    name: String,
}

/// `POST /actions/runners/register` (ref §1.3): the XML public key becomes the runner's OAuth
/// client, and the answer points at the token endpoint and the broker.
pub(crate) async fn register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<RegisterBody>,
) -> Response {
    if let Err(refused) = check_token(&shared, &headers, TokenKind::Register) {
        return refused.into_response();
    }
    if !body.url.starts_with(&shared.base) {
        return api_error::rest(StatusCode::NOT_FOUND, "Not Found");
    }
    let public_key = match rsa_key::from_xml(&body.public_key) {
        Ok(key) => key,
        Err(error) => {
            let message = format!("invalid public_key: failed to {error}");
            return api_error::rest(StatusCode::UNPROCESSABLE_ENTITY, &message);
        }
    };
    let labels = body.labels.into_iter().map(|l| l.name).collect();
    let registered = add_runner(
        &shared,
        NewRunner {
            name: body.name,
            group_id: body.group_id,
            ephemeral: body.ephemeral,
            labels,
            public_key,
            replace: body.replace.then_some(body.runner_id).flatten(),
        },
    );
    match registered {
        Ok(view) => {
            let mut answer = runner_json(&view);
            answer["authorization"] = json!({
                "authorization_url": shared.authorization_url(),
                "server_url": shared.url("broker/"),
                "client_id": view.client_id,
            });
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(refusal) => refusal.into_rest(),
    }
}

pub(crate) struct NewRunner {
    pub name: String,
    pub group_id: u64,
    pub ephemeral: bool,
    pub labels: Vec<String>,
    pub public_key: rsa::RsaPublicKey,
    /// The id of the runner to replace (ref §1.3 `runner_id` + `replace`; §1.4 step 4).
    pub replace: Option<u64>,
}

pub(crate) enum Refusal {
    NoGroup,
    HostedGroup,
    NameTaken,
    NoSuchRunner,
}

impl Refusal {
    fn into_rest(self) -> Response {
        match self {
            Refusal::NoGroup => api_error::rest(StatusCode::NOT_FOUND, "runner group not found"),
            Refusal::HostedGroup => api_error::rest(
                StatusCode::UNPROCESSABLE_ENTITY,
                "self-hosted runners cannot join a hosted runner group",
            ),
            // (inferred) The reference does not show the answer for a duplicate name; a conflict
            // is what a client that forgot `replace` should see.
            Refusal::NameTaken => api_error::rest(StatusCode::CONFLICT, "A runner exists with the same name"),
            Refusal::NoSuchRunner => api_error::rest(StatusCode::NOT_FOUND, "runner not found"),
        }
    }

    pub(crate) fn message(&self) -> &'static str {
        match self {
            Refusal::NoGroup => "pool not found",
            Refusal::HostedGroup => "hosted pool",
            Refusal::NameTaken => "agent exists",
            Refusal::NoSuchRunner => "agent not found",
        }
    }
}

/// Adds (or replaces) a runner, keeping the rules of both flows in one place.
pub(crate) fn add_runner(shared: &Shared, new: NewRunner) -> Result<RunnerView, Refusal> {
    let view = {
        let mut inner = shared.lock();
        let group = inner.groups.iter().find(|g| g.id == new.group_id).ok_or(Refusal::NoGroup)?;
        if group.is_hosted {
            return Err(Refusal::HostedGroup);
        }
        let same_name = inner.runners.values().find(|r| r.view.name == new.name).map(|r| r.view.id);
        let id = match (new.replace, same_name) {
            (Some(id), _) if !inner.runners.contains_key(&id) => return Err(Refusal::NoSuchRunner),
            (Some(id), Some(other)) if other != id => return Err(Refusal::NameTaken),
            (Some(id), _) => id,
            (None, Some(_)) => return Err(Refusal::NameTaken),
            (None, None) => {
                inner.next_runner_id += 1;
                inner.next_runner_id - 1
            }
        };
        // A replaced runner gets a fresh OAuth client: the old key must stop working.
        inner.access_tokens.retain(|_, runner| *runner != id);
        let view = RunnerView {
            id,
            name: new.name,
            labels: new.labels,
            group_id: new.group_id,
            ephemeral: new.ephemeral,
            client_id: uuid::Uuid::new_v4().to_string(),
        };
        inner.runners.insert(id, Runner { view: view.clone(), public_key: new.public_key });
        view
    };
    shared.changed();
    Ok(view)
}

fn runner_json(view: &RunnerView) -> Value {
    let labels: Vec<Value> = view
        .labels
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let kind = if is_system_label(name) { "read-only" } else { "custom" };
            json!({"id": i + 1, "name": name, "type": kind})
        })
        .collect();
    json!({
        "id": view.id,
        "name": view.name,
        "os": "linux",
        "status": "offline",
        "busy": false,
        "ephemeral": view.ephemeral,
        "runner_group_id": view.group_id,
        "labels": labels,
    })
}

/// The default labels the runner itself adds (ref §1.4 step 2: `self-hosted`, OS, arch).
pub(crate) fn is_system_label(name: &str) -> bool {
    matches!(name, "self-hosted" | "Linux" | "Windows" | "macOS" | "X64" | "X86" | "ARM" | "ARM64")
}
