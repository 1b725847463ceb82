//! [`remove`]: the runner deleted on GitHub, then its files; [`forget`]: the files alone.

use std::path::Path;

use super::api::Api;
use super::legacy::Legacy;
use super::{RegistrationError, Removed, admin};
use crate::files::{self, Registration};

/// Removes the runner registered in `dir` with a remove token: runner-registration with
/// `runner_event: "remove"` (ref §1.1), then the runner-admin `DELETE ENTITY/runners/{id}`
/// (ref §1.3) or the legacy agent DELETE (ref §1.4 step 5), as it was registered; then the local
/// files. A runner GitHub no longer knows still has its files removed ([`Removed::AlreadyGone`]).
/// `api_url` overrides the API base (SOLSTICE_GITHUB_API_URL); else the one used to register.
pub async fn remove(dir: &Path, remove_token: &str, api_url: Option<&str>) -> Result<Removed, RegistrationError> {
    if !Registration::exists(dir) {
        return Err(RegistrationError::NotConfigured { dir: dir.to_owned() });
    }
    let (registration, _key) = Registration::load(dir)
        .map_err(|source| RegistrationError::Load { dir: dir.to_owned(), source: Box::new(source) })?;
    let removed = if registration.github_url.is_empty() {
        // A JIT runner (ref §1.6) names no URL to remove it through; GitHub deletes an
        // ephemeral runner itself after its job.
        Removed::LocalOnly
    } else {
        let api_url = api_url.or(registration.api_url.as_deref());
        let api = Api::new(&registration.github_url, api_url)?;
        let client = crate::http::client().map_err(RegistrationError::Client)?;
        let tenant = api.runner_registration(&client, remove_token, "remove").await?;
        if registration.use_runner_admin_flow {
            admin::delete(&client, &api, remove_token, registration.agent_id).await?
        } else {
            Legacy::connect(&client, &tenant).await?.delete(registration.agent_id).await?
        }
    };
    if removed == Removed::AlreadyGone {
        tracing::warn!(runner = %registration.agent_name, id = registration.agent_id, "GitHub no longer knows this runner; removing its local files only");
    }
    forget(dir)?;
    Ok(removed)
}

/// Deletes the registration files in `dir` without asking GitHub: after an ephemeral runner's
/// job (GitHub deletes the runner itself, ref §1.6), or when GitHub says the runner is gone.
pub fn forget(dir: &Path) -> Result<(), RegistrationError> {
    files::delete(dir).map_err(|source| RegistrationError::Forget { dir: dir.to_owned(), source: Box::new(source) })
}
