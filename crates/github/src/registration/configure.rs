//! [`configure`]: one or `--count N` runners registered, each with its own key and directory.

use std::path::PathBuf;

use super::api::{Api, Tenant};
use super::legacy::Legacy;
use super::{ConfigureOptions, Group, NewRunner, RegistrationError, admin, names, registration_dir};
use crate::files::Registration;
use crate::key::RunnerKey;

/// The flow runner-registration chose, with what it needs for every runner.
enum Flow<'a> {
    /// ref §1.3, with the runner group.
    Admin(Group),
    /// ref §1.4, with the tenant's routes and the pool.
    Legacy(Box<Legacy<'a>>, Group),
}

/// Registers the runners `options` asks for and writes their files; returns their directories
/// (`<state dir>/github/<name>`), in name order.
///
/// Nothing is sent to GitHub when a directory already holds a registration and `replace` is
/// off. With `count` > 1 the runners are registered one after the other; if one fails, the ones
/// before it stay registered and saved, and [`RegistrationError::Partial`] names them.
pub async fn configure(options: &ConfigureOptions) -> Result<Vec<PathBuf>, RegistrationError> {
    let names = names(options)?;
    let dirs: Vec<PathBuf> = names.iter().map(|name| registration_dir(&options.state_dir, name)).collect();
    let configured = names.iter().zip(&dirs).find(|(_, dir)| Registration::exists(dir));
    if let (false, Some((name, dir))) = (options.replace, configured) {
        return Err(RegistrationError::AlreadyConfigured { name: name.clone(), dir: dir.clone() });
    }
    let api = Api::new(&options.url, options.api_url.as_deref())?;
    let client = crate::http::client().map_err(RegistrationError::Client)?;
    let tenant = api.runner_registration(&client, &options.token, "register").await?;
    tracing::info!(use_v2_flow = tenant.use_v2_flow, tenant = %tenant.url, "runner-registration accepted the token");
    let wanted = options.runner_group.as_deref();
    let flow = if tenant.use_v2_flow {
        Flow::Admin(admin::group(&client, &api, &options.token, wanted).await?)
    } else {
        let legacy = Legacy::connect(&client, &tenant).await?;
        let pool = legacy.pool(wanted).await?;
        Flow::Legacy(Box::new(legacy), pool)
    };
    let mut made: Vec<(String, PathBuf)> = Vec::new();
    for (name, dir) in names.iter().zip(&dirs) {
        let one = One { client: &client, api: &api, tenant: &tenant, options, name };
        match one.configure(&flow, dir).await {
            Ok(()) => made.push((name.clone(), dir.clone())),
            Err(error) if made.is_empty() => return Err(error),
            Err(error) => {
                return Err(RegistrationError::Partial { made, failed: name.clone(), source: Box::new(error) });
            }
        }
    }
    Ok(dirs)
}

/// One runner of a configure.
struct One<'a> {
    client: &'a reqwest::Client,
    api: &'a Api,
    tenant: &'a Tenant,
    options: &'a ConfigureOptions,
    name: &'a str,
}

impl One<'_> {
    async fn configure(&self, flow: &Flow<'_>, dir: &std::path::Path) -> Result<(), RegistrationError> {
        // Key generation is CPU-bound (seconds in debug builds): keep it off the async workers.
        let key = tokio::task::spawn_blocking(RunnerKey::generate)
            .await
            .map_err(|_| RegistrationError::KeyTask)?
            .map_err(RegistrationError::Key)?;
        let new = NewRunner {
            name: self.name,
            labels: &self.options.labels,
            ephemeral: self.options.ephemeral,
            replace: self.options.replace,
            key: &key,
        };
        let registration = match flow {
            Flow::Admin(group) => {
                admin::register(self.client, self.api, self.tenant, &self.options.token, group, &new).await?
            }
            Flow::Legacy(legacy, pool) => {
                let registration = legacy.register(&self.api.github_url, &self.api.base, pool, &new).await?;
                // ref §3.1: without UseV2Flow and a broker URL the runner would need the
                // pipelines message listener, which we do not have; leave nothing behind.
                if !registration.use_v2_flow || registration.broker_url.is_none() {
                    if let Err(error) = legacy.delete(registration.agent_id).await {
                        tracing::warn!(runner = self.name, error = %crate::error_chain(&error), "could not remove the agent again");
                    }
                    return Err(RegistrationError::NoBroker);
                }
                registration
            }
        };
        registration
            .save(dir, &key)
            .map_err(|source| RegistrationError::Save { dir: dir.to_owned(), source: Box::new(source) })?;
        tracing::info!(runner = self.name, id = registration.agent_id, dir = %dir.display(), "runner registered");
        Ok(())
    }
}
