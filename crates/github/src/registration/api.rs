//! Where registration calls go: the REST API base for a GitHub URL, the ENTITY scope of the
//! runner-admin calls (ref §1.3), and `runner-registration` (ref §1.1), the call both flows and
//! removal start with.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::RegistrationError;
use crate::http::{self, HttpError};

/// How often runner-registration is tried when GitHub does not answer (ref §1.1: the official
/// runner tries 3 times; a 404 is never retried).
const ATTEMPTS: u32 = 3;

/// The REST API base and the runner-admin scope for one GitHub URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Api {
    /// The URL the runner is registered for, as given.
    pub github_url: String,
    /// The REST API base, ending in `/`.
    pub base: String,
    /// `repos/OWNER/REPO`, `orgs/ORG` or `enterprises/ENT`.
    pub scope: String,
}

/// What runner-registration answers (ref §1.1 `GitHubAuthResult`).
/// Not `Debug`: it holds the tenant token.
#[derive(Deserialize)]
pub(crate) struct Tenant {
    /// The tenant (pipelines) URL.
    pub url: String,
    /// The tenant bearer token (legacy flow).
    pub token: String,
    #[serde(default)]
    pub use_v2_flow: bool,
}

impl Api {
    /// The API for `github_url` (ref §1.1): github.com and www.github.com use
    /// `https://api.github.com/`, `*.ghe.com` uses `https://api.<host>/`, any other host is GitHub
    /// Enterprise Server at `<scheme>://<host>/api/v3/`. `api_override` (SOLSTICE_GITHUB_API_URL)
    /// wins. Plain `http://` is accepted only for loopback hosts, so a token never crosses a
    /// network in clear.
    pub fn new(github_url: &str, api_override: Option<&str>) -> Result<Api, RegistrationError> {
        let url = checked_url(github_url)?;
        let segments: Vec<&str> = url.path().split('/').filter(|segment| !segment.is_empty()).collect();
        let scope = match segments.as_slice() {
            ["enterprises", enterprise] => format!("enterprises/{enterprise}"),
            [owner] => format!("orgs/{owner}"),
            [owner, repo] => format!("repos/{owner}/{repo}"),
            _ => {
                return Err(url_error(
                    github_url,
                    "expected https://HOST/OWNER[/REPO] or https://HOST/enterprises/NAME",
                ));
            }
        };
        let base = match api_override.map(str::trim).filter(|text| !text.is_empty()) {
            Some(base) => {
                checked_url(base)?;
                if base.ends_with('/') { base.to_owned() } else { format!("{base}/") }
            }
            None => derived_base(&url),
        };
        Ok(Api { github_url: github_url.trim_end_matches('/').to_owned(), base, scope })
    }

    /// `ENTITY/<path>` (ref §1.3).
    pub fn entity(&self, path: &str) -> String {
        http::join(&self.base, &format!("{}/actions/{path}", self.scope))
    }

    /// A path at the API root.
    pub fn root(&self, path: &str) -> String {
        http::join(&self.base, path)
    }

    /// `POST actions/runner-registration` with `runner_event` `register` or `remove` (ref §1.1).
    pub async fn runner_registration(
        &self,
        client: &reqwest::Client,
        token: &str,
        event: &str,
    ) -> Result<Tenant, RegistrationError> {
        let url = self.root("actions/runner-registration");
        let body = serde_json::json!({"url": self.github_url, "runner_event": event});
        let mut attempt = 1;
        loop {
            let request =
                client.post(&url).timeout(http::CALL_TIMEOUT).header("Authorization", remote_auth(token)).json(&body);
            match http::send_json::<Tenant>("POST", &url, request).await {
                Ok(tenant) => return Ok(tenant),
                // ref §1.1: a 404 is a bad or expired token, not worth another try.
                Err(error) if error.status() == Some(404) => {
                    let kind = if event == "remove" { "remove" } else { "registration" };
                    return Err(RegistrationError::TokenInvalid { kind, url });
                }
                Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                    tracing::warn!(%url, attempt, error = %crate::error_chain(&error), "runner-registration failed; trying again");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(error) => return Err(failed("exchange the registration token at runner-registration", error)),
            }
        }
    }
}

/// The `Authorization` value for registration and remove tokens (ref §0).
pub(crate) fn remote_auth(token: &str) -> String {
    format!("RemoteAuth {}", token.trim())
}

/// An HTTP failure of a registration step: no answer or a server error means GitHub could not
/// be reached (exit 3); anything else is the step's own refusal.
pub(crate) fn failed(step: &'static str, source: HttpError) -> RegistrationError {
    if source.is_transient() {
        RegistrationError::Unreachable { step, source: Box::new(source) }
    } else {
        RegistrationError::Api { step, source: Box::new(source) }
    }
}

fn url_error(url: &str, reason: &str) -> RegistrationError {
    RegistrationError::Url { url: url.to_owned(), reason: reason.to_owned() }
}

/// `text` parsed, http(s) with a host, and plain http only on loopback.
fn checked_url(text: &str) -> Result<Url, RegistrationError> {
    let url = Url::parse(text.trim()).map_err(|error| url_error(text, &error.to_string()))?;
    let Some(host) = url.host_str().filter(|host| !host.is_empty()) else {
        return Err(url_error(text, "it has no host"));
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(host) => Ok(url),
        "http" => Err(url_error(text, "plain http:// is accepted only for loopback hosts; use https://")),
        other => Err(url_error(text, &format!("the scheme {other:?} is not http(s)"))),
    }
}

/// `localhost`, 127.0.0.0/8 or `[::1]`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The API base GitHub uses for a web URL's host (ref §1.1).
fn derived_base(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host == "github.com" || host == "www.github.com" {
        "https://api.github.com/".to_owned()
    } else if host.ends_with(".ghe.com") {
        format!("https://api.{host}/")
    } else {
        let port = url.port().map(|port| format!(":{port}")).unwrap_or_default();
        format!("{}://{}{port}/api/v3/", url.scheme(), url.host_str().unwrap_or_default())
    }
}
