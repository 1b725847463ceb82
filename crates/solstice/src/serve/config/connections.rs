//! The forge connections: the file's tables merged with the one connection of each forge the
//! environment may name, then checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, DEFAULT_NAME, ForgejoConnection, ForgejoTable, GithubConnection, GithubTable, invalid};

/// The connections the environment names.
pub(super) struct EnvConnections {
    forgejo_url: Option<String>,
    forgejo_token: Option<String>,
    github_url: Option<String>,
    github_token: Option<String>,
    github_api_url: Option<String>,
    labels: Option<Vec<String>>,
    name: Option<String>,
}

impl EnvConnections {
    pub(super) fn read(env: &impl Fn(&str) -> Option<String>) -> EnvConnections {
        EnvConnections {
            forgejo_url: env("SOLSTICE_FORGEJO_URL"),
            forgejo_token: env("SOLSTICE_FORGEJO_TOKEN"),
            github_url: env("SOLSTICE_GITHUB_URL"),
            github_token: env("SOLSTICE_GITHUB_TOKEN"),
            github_api_url: env("SOLSTICE_GITHUB_API_URL"),
            labels: env("SOLSTICE_LABELS").map(|list| split(&list)),
            name: env("SOLSTICE_RUNNER_NAME"),
        }
    }
}

pub(super) fn forgejo_connections(
    mut tables: Vec<ForgejoTable>,
    from_env: &EnvConnections,
    state_dir: &Path,
    capacity: u32,
) -> Result<Vec<ForgejoConnection>, ConfigError> {
    if let Some(url) = &from_env.forgejo_url {
        let name = from_env.name.clone();
        // The table of the same instance, unless it names another runner.
        let same = |table: &ForgejoTable| {
            same_url(&table.url, url) && (name.is_none() || table.name.is_none() || table.name == name)
        };
        let index = match tables.iter().position(same) {
            Some(index) => index,
            None => {
                tables.push(ForgejoTable { url: url.clone(), ..ForgejoTable::default() });
                tables.len() - 1
            }
        };
        let table = &mut tables[index];
        table.name = name.or(table.name.take());
        table.token = from_env.forgejo_token.clone().or(table.token.take());
        table.labels = from_env.labels.clone().or(table.labels.take());
    }
    let mut connections: Vec<ForgejoConnection> = Vec::new();
    for table in tables {
        let url = instance_url(&table.url, "[[forgejo]]")?;
        let name = table.name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
        if name.trim().is_empty() {
            return Err(invalid(format!("[[forgejo]] {url}: the runner name is empty")));
        }
        if connections.iter().any(|c| same_url(&c.url, &url) && c.name == name) {
            return Err(invalid(format!("[[forgejo]] {url}: two connections named {name:?}")));
        }
        let labels = table.labels.map(|labels| {
            labels.into_iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect::<Vec<_>>()
        });
        if let Some(labels) = &labels {
            if labels.is_empty() {
                return Err(invalid(format!(
                    "[[forgejo]] {url}: labels is empty: a runner without labels never gets a job"
                )));
            }
            forgejo::labels::label_names(labels).map_err(|error| invalid(format!("[[forgejo]] {url}: {error}")))?;
        }
        let capacity = table.capacity.unwrap_or(capacity);
        if capacity == 0 {
            return Err(invalid(format!("[[forgejo]] {url}: the capacity must be at least 1")));
        }
        let interval = table.fetch_interval_secs.unwrap_or(2.0);
        let fetch_interval = Duration::try_from_secs_f64(interval)
            .ok()
            .filter(|d| !d.is_zero() && *d <= forgejo::fetch::MAX_SILENCE)
            .ok_or_else(|| {
                invalid(format!(
                    "[[forgejo]] {url}: fetch_interval_secs must be above 0 and at most 60 (Forgejo shows a runner \
                     offline after a minute), not {interval}"
                ))
            })?;
        let runner_file = table.runner_file.unwrap_or_else(|| default_runner_file(state_dir, &url, &name));
        connections.push(ForgejoConnection {
            url,
            name,
            runner_file,
            token: table.token.map(forgejo::RunnerToken::new),
            labels,
            capacity,
            fetch_interval,
        });
    }
    Ok(connections)
}

pub(super) fn github_connections(
    mut tables: Vec<GithubTable>,
    from_env: &EnvConnections,
    capacity: u32,
) -> Result<Vec<GithubConnection>, ConfigError> {
    if let Some(url) = &from_env.github_url {
        let index = match tables.iter().position(|table| same_url(&table.url, url)) {
            Some(index) => index,
            None => {
                tables.push(GithubTable { url: url.clone(), ..GithubTable::default() });
                tables.len() - 1
            }
        };
        let table = &mut tables[index];
        table.name = from_env.name.clone().or(table.name.take());
        table.token = from_env.github_token.clone().or(table.token.take());
        table.api_url = from_env.github_api_url.clone().or(table.api_url.take());
        table.labels = from_env.labels.clone().or(table.labels.take());
    }
    let mut connections: Vec<GithubConnection> = Vec::new();
    for table in tables {
        let url = instance_url(&table.url, "[[github]]")?;
        if connections.iter().any(|c| c.url == url) {
            return Err(invalid(format!("[[github]] {url}: given twice")));
        }
        let labels: Vec<String> = table
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        if labels.is_empty() {
            return Err(invalid(format!("[[github]] {url}: no labels (set labels, or SOLSTICE_LABELS)")));
        }
        let api_url = table.api_url.map(|api| instance_url(&api, "[[github]] api_url")).transpose()?;
        let capacity = table.capacity.unwrap_or(capacity);
        if capacity == 0 {
            return Err(invalid(format!("[[github]] {url}: the capacity must be at least 1")));
        }
        connections.push(GithubConnection {
            url,
            name: table.name.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
            token: table.token.map(contract::SecretString::new),
            api_url,
            labels,
            capacity,
        });
    }
    Ok(connections)
}

/// `url` without a trailing slash, if it is http(s).
fn instance_url(url: &str, table: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if host.is_none_or(str::is_empty) {
        return Err(invalid(format!("{table}: the url must be http:// or https://…, not {url:?}")));
    }
    Ok(url.to_owned())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// `<state dir>/forgejo/<host>-<name>/.runner`: one directory per registration, named so an
/// operator recognises it.
fn default_runner_file(state_dir: &Path, url: &str, name: &str) -> PathBuf {
    let host = url.split_once("://").map_or(url, |(_, rest)| rest);
    let slug = |text: &str| -> String {
        text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
    };
    state_dir.join("forgejo").join(format!("{}-{}", slug(host), slug(name))).join(forgejo::registration::RUNNER_FILE)
}

fn split(list: &str) -> Vec<String> {
    list.split(',').map(|label| label.trim().to_owned()).filter(|label| !label.is_empty()).collect()
}
