//! The legacy pipelines flow (ref §1.4, `use_v2_flow: false`): routes found through
//! connectionData, pools and agents on the tenant with its bearer token, and the agent
//! properties through which the server can still send the runner to the broker.

use serde::Deserialize;
use serde_json::Value;

use super::api::{Tenant, failed};
use super::{Group, NewRunner, RegistrationError, Removed, choose_group, labels_json};
use crate::files::Registration;
use crate::http;

/// ref §1.4 location GUIDs.
const POOLS: &str = "a8c47e17-4d56-4a56-92bb-de7ea7dc65be";
const AGENTS: &str = "e298ef32-5878-4cab-993c-043836571f42";
/// The API versions the official client asks for.
const POOLS_API: &str = "5.1-preview.1";
const AGENTS_API: &str = "6.0-preview.2";

/// A tenant with its routes resolved.
pub(crate) struct Legacy<'a> {
    client: &'a reqwest::Client,
    tenant: &'a Tenant,
    pools: Route,
    agents: Route,
}

/// A connectionData service definition (ref §1.4 "URL discovery").
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Route {
    identifier: String,
    #[serde(default)]
    service_type: String,
    #[serde(default)]
    display_name: String,
    relative_path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionData {
    location_service_data: LocationServiceData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationServiceData {
    #[serde(default)]
    service_definitions: Vec<Route>,
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pool {
    id: u64,
    name: String,
    #[serde(default)]
    is_hosted: bool,
    #[serde(default)]
    is_internal: bool,
}

#[derive(Deserialize)]
struct Agent {
    id: u64,
    name: String,
}

/// The TaskAgent answer (ref §1.4 step 3).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Added {
    id: u64,
    authorization: AgentAuthorization,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentAuthorization {
    authorization_url: String,
    client_id: String,
}

impl Route {
    /// The URL for this route on `tenant`: `{name}` placeholders filled from `params` (and
    /// `area`/`resource`), unresolved ones dropped with their `/`, as the Go client does.
    fn url(&self, tenant: &str, params: &[(&str, String)], api_version: &str) -> String {
        let mut path = String::new();
        for segment in self.relative_path.split('/').filter(|segment| !segment.is_empty()) {
            let filled = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some("area") => Some(self.service_type.clone()),
                Some("resource") => Some(self.display_name.clone()),
                Some(name) => params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()),
                None => Some(segment.to_owned()),
            };
            if let Some(filled) = filled {
                path.push('/');
                path.push_str(&filled);
            }
        }
        format!("{}?api-version={api_version}", http::join(tenant, &path))
    }
}

impl<'a> Legacy<'a> {
    /// Reads connectionData for the pools and agents routes.
    pub async fn connect(client: &'a reqwest::Client, tenant: &'a Tenant) -> Result<Legacy<'a>, RegistrationError> {
        let url = http::join(&tenant.url, "_apis/connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1");
        let request = client.get(&url).timeout(http::CALL_TIMEOUT).header("Accept", "application/json");
        let data: ConnectionData = http::send_json("GET", &url, request)
            .await
            .map_err(|error| failed("read the tenant's connectionData", error))?;
        let route = |id: &str, name: &str| {
            data.location_service_data
                .service_definitions
                .iter()
                .find(|definition| definition.identifier.eq_ignore_ascii_case(id))
                .cloned()
                .ok_or_else(|| RegistrationError::Answer {
                    step: "read the tenant's connectionData",
                    reason: format!("it has no route for {name} ({id})"),
                })
        };
        Ok(Legacy { client, tenant, pools: route(POOLS, "pools")?, agents: route(AGENTS, "agents")? })
    }

    fn request(&self, method: reqwest::Method, url: &str, api_version: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .timeout(http::CALL_TIMEOUT)
            .bearer_auth(&self.tenant.token)
            .header("Accept", format!("application/json;api-version={api_version}"))
            .header("X-TFS-FedAuthRedirect", "Suppress")
    }

    /// The pool to join: `wanted` by name, else the internal (default) non-hosted pool.
    pub async fn pool(&self, wanted: Option<&str>) -> Result<Group, RegistrationError> {
        let url = format!("{}&poolName=&poolType=Automation", self.pools.url(&self.tenant.url, &[], POOLS_API));
        let request = self.request(reqwest::Method::GET, &url, POOLS_API);
        let pools: List<Pool> =
            http::send_json("GET", &url, request).await.map_err(|error| failed("list the agent pools", error))?;
        let groups: Vec<Group> = pools
            .value
            .into_iter()
            .map(|pool| Group { id: pool.id, name: pool.name, default: pool.is_internal, hosted: pool.is_hosted })
            .collect();
        choose_group(&groups, wanted)
    }

    /// Adds (or with `replace` replaces) one agent (ref §1.4 steps 2–4).
    pub async fn register(
        &self,
        github_url: &str,
        api_url: &str,
        pool: &Group,
        new: &NewRunner<'_>,
    ) -> Result<Registration, RegistrationError> {
        let pool_id = [("poolId", pool.id.to_string())];
        let list =
            format!("{}&agentName={}", self.agents.url(&self.tenant.url, &pool_id, AGENTS_API), encode(new.name));
        let request = self.request(reqwest::Method::GET, &list, AGENTS_API);
        let agents: List<Agent> =
            http::send_json("GET", &list, request).await.map_err(|error| failed("look the agent up by name", error))?;
        let existing = agents.value.iter().find(|agent| agent.name.eq_ignore_ascii_case(new.name)).map(|a| a.id);
        let (method, url) = match existing {
            Some(_) if !new.replace => return Err(RegistrationError::NameTaken { name: new.name.to_owned() }),
            Some(id) => {
                let params = [("poolId", pool.id.to_string()), ("agentId", id.to_string())];
                (reqwest::Method::PUT, self.agents.url(&self.tenant.url, &params, AGENTS_API))
            }
            None => (reqwest::Method::POST, self.agents.url(&self.tenant.url, &pool_id, AGENTS_API)),
        };
        let created_on =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let body = serde_json::json!({
            "name": new.name,
            "version": crate::RUNNER_VERSION,
            "osDescription": format!("{} {} (Solstice CI)", std::env::consts::OS, std::env::consts::ARCH),
            "maxParallelism": 1,
            "ephemeral": new.ephemeral,
            "disableUpdate": true,
            "labels": labels_json(new.labels, false),
            "authorization": {"publicKey": new.key.exponent_modulus()},
            "provisioningState": "Provisioned",
            "createdOn": created_on,
        });
        let name = if method == reqwest::Method::PUT { "PUT" } else { "POST" };
        let request = self.request(method, &url, AGENTS_API).json(&body);
        let added: Added = match http::send_json(name, &url, request).await {
            Ok(added) => added,
            Err(error) if error.body_field("typeKey").as_deref() == Some("TaskAgentExistsException") => {
                return Err(RegistrationError::NameTaken { name: new.name.to_owned() });
            }
            Err(error) => return Err(failed("add the agent", error)),
        };
        // ref §1.4 step 3: the properties can send the runner to the broker.
        let property = |key: &str| property(&added.properties, key);
        let use_v2_flow = property("UseV2Flow").as_ref().and_then(boolean).unwrap_or(false);
        let broker_url =
            property("ServerUrlV2").and_then(|value| value.as_str().map(str::to_owned)).filter(|u| !u.is_empty());
        Ok(Registration {
            agent_id: added.id,
            agent_name: new.name.to_owned(),
            pool_id: pool.id,
            pool_name: Some(pool.name.clone()),
            server_url: self.tenant.url.clone(),
            broker_url,
            use_v2_flow,
            use_runner_admin_flow: false,
            github_url: github_url.to_owned(),
            work_folder: "_work".to_owned(),
            ephemeral: new.ephemeral,
            disable_update: true,
            client_id: added.authorization.client_id,
            authorization_url: added.authorization.authorization_url,
            legacy_authorization_url: None,
            // ref §1.5: True unless the server's agent properties say otherwise.
            require_fips: property("RequireFipsCryptography").as_ref().and_then(boolean).unwrap_or(true),
            labels: new.labels.to_vec(),
            api_url: Some(api_url.to_owned()),
        })
    }

    /// `DELETE pools/{poolId}/agents/{agentId}` (ref §1.4 step 5: the pool id is ignored
    /// server-side; the official client passes 0).
    pub async fn delete(&self, agent_id: u64) -> Result<Removed, RegistrationError> {
        let params = [("poolId", "0".to_owned()), ("agentId", agent_id.to_string())];
        let url = self.agents.url(&self.tenant.url, &params, AGENTS_API);
        match http::send("DELETE", &url, self.request(reqwest::Method::DELETE, &url, AGENTS_API)).await {
            Ok(_) => Ok(Removed::Deleted),
            Err(error) if error.status() == Some(404) => Ok(Removed::AlreadyGone),
            Err(error) => Err(failed("delete the agent", error)),
        }
    }
}

/// An agent property, in the VSS typed form `{"$type", "$value"}` or raw (ref §1.4 step 3).
fn property(properties: &serde_json::Map<String, Value>, key: &str) -> Option<Value> {
    let value = properties.iter().find(|(name, _)| name.eq_ignore_ascii_case(key)).map(|(_, value)| value)?;
    match value.as_object().and_then(|typed| typed.get("$value")) {
        Some(inner) => Some(inner.clone()),
        None => Some(value.clone()),
    }
}

/// A boolean as JSON or as .NET's `True`/`False`.
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(on) => Some(*on),
        Value::String(text) => text.trim().to_ascii_lowercase().parse().ok(),
        _ => None,
    }
}

/// Percent-encodes a query value (runner names are plain, but a space or `&` must not break
/// the query).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
