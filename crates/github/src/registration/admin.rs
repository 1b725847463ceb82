//! The runner-admin flow (ref §1.3, `use_v2_flow: true`): runner groups, runners by name,
//! `actions/runners/register` with the XML public key, and deleting a runner. Every call carries
//! the registration (or remove) token as `RemoteAuth`, as the official client sends it.

use serde::Deserialize;

use super::api::{Api, Tenant, failed, remote_auth};
use super::{Group, NewRunner, RegistrationError, Removed, choose_group, labels_json};
use crate::files::Registration;
use crate::http;

#[derive(Deserialize)]
struct Groups {
    #[serde(default)]
    runner_groups: Vec<GroupJson>,
}

#[derive(Deserialize)]
struct GroupJson {
    id: u64,
    name: String,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    is_hosted: bool,
}

#[derive(Deserialize)]
struct Runners {
    #[serde(default)]
    runners: Vec<RunnerJson>,
}

#[derive(Deserialize)]
struct RunnerJson {
    id: u64,
    name: String,
}

/// The register answer (ref §1.3 `Runner`).
#[derive(Deserialize)]
struct Registered {
    id: u64,
    authorization: Authorization,
}

#[derive(Deserialize)]
struct Authorization {
    authorization_url: String,
    server_url: String,
    client_id: String,
    legacy_authorization_url: Option<String>,
}

/// The group to join: `wanted` by name, else the default non-hosted group (ref §1.3).
pub(crate) async fn group(
    client: &reqwest::Client,
    api: &Api,
    token: &str,
    wanted: Option<&str>,
) -> Result<Group, RegistrationError> {
    let url = api.entity("runner-groups");
    let request = client.get(&url).timeout(http::CALL_TIMEOUT).header("Authorization", remote_auth(token));
    let answer: Groups =
        http::send_json("GET", &url, request).await.map_err(|error| failed("list the runner groups", error))?;
    let groups = answer
        .runner_groups
        .into_iter()
        .map(|g| Group { id: g.id, name: g.name, default: g.default, hosted: g.is_hosted })
        .collect::<Vec<_>>();
    choose_group(&groups, wanted)
}

/// The id of the runner called `name`, if there is one.
pub(crate) async fn find(
    client: &reqwest::Client,
    api: &Api,
    token: &str,
    name: &str,
) -> Result<Option<u64>, RegistrationError> {
    let url = api.entity("runners");
    let request = client
        .get(&url)
        .timeout(http::CALL_TIMEOUT)
        .header("Authorization", remote_auth(token))
        .query(&[("name", name)]);
    let answer: Runners =
        http::send_json("GET", &url, request).await.map_err(|error| failed("look the runner up by name", error))?;
    Ok(answer.runners.into_iter().find(|runner| runner.name.eq_ignore_ascii_case(name)).map(|runner| runner.id))
}

/// Registers (or, with `replace`, replaces) one runner (ref §1.3).
pub(crate) async fn register(
    client: &reqwest::Client,
    api: &Api,
    tenant: &Tenant,
    token: &str,
    group: &Group,
    new: &NewRunner<'_>,
) -> Result<Registration, RegistrationError> {
    let existing = find(client, api, token, new.name).await?;
    if existing.is_some() && !new.replace {
        return Err(RegistrationError::NameTaken { name: new.name.to_owned() });
    }
    let mut body = serde_json::json!({
        "url": api.github_url,
        "group_id": group.id,
        "name": new.name,
        "version": crate::RUNNER_VERSION,
        "updates_disabled": true,
        "ephemeral": new.ephemeral,
        "labels": labels_json(new.labels, true),
        "public_key": new.key.xml_public_key(),
    });
    if let Some(id) = existing {
        body["runner_id"] = id.into();
        body["replace"] = true.into();
    }
    let url = api.root("actions/runners/register");
    let request = client.post(&url).timeout(http::CALL_TIMEOUT).header("Authorization", remote_auth(token)).json(&body);
    let registered: Registered = match http::send_json("POST", &url, request).await {
        Ok(registered) => registered,
        // Someone took the name between the look-up and now.
        Err(error) if error.status() == Some(409) => {
            return Err(RegistrationError::NameTaken { name: new.name.to_owned() });
        }
        Err(error) => return Err(failed("register the runner", error)),
    };
    let authorization = registered.authorization;
    Ok(Registration {
        agent_id: registered.id,
        agent_name: new.name.to_owned(),
        pool_id: group.id,
        pool_name: Some(group.name.clone()),
        server_url: tenant.url.clone(),
        broker_url: Some(authorization.server_url),
        use_v2_flow: true,
        use_runner_admin_flow: true,
        github_url: api.github_url.clone(),
        work_folder: "_work".to_owned(),
        ephemeral: new.ephemeral,
        disable_update: true,
        client_id: authorization.client_id,
        // ref §1.3: broker and run-service tokens come from `authorization_url`.
        authorization_url: authorization.authorization_url,
        legacy_authorization_url: authorization.legacy_authorization_url,
        // ref §1.5: the official default since v2.324.0; the runner-admin answer has no say.
        require_fips: true,
        labels: new.labels.to_vec(),
        api_url: Some(api.base.clone()),
    })
}

/// `DELETE ENTITY/runners/{id}` with the remove token (ref §1.3).
pub(crate) async fn delete(
    client: &reqwest::Client,
    api: &Api,
    token: &str,
    id: u64,
) -> Result<Removed, RegistrationError> {
    let url = api.entity(&format!("runners/{id}"));
    let request = client.delete(&url).timeout(http::CALL_TIMEOUT).header("Authorization", remote_auth(token));
    match http::send("DELETE", &url, request).await {
        Ok(_) => Ok(Removed::Deleted),
        Err(error) if error.status() == Some(404) => Ok(Removed::AlreadyGone),
        Err(error) => Err(failed("delete the runner", error)),
    }
}
