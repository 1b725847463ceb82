//! HTTP for pulls: small texts (a channel's index, a checksum file) and the image itself,
//! streamed to a file and hashed as it arrives. Each request is tried `attempts` times with a
//! doubling pause; a 4xx answer is final at once (the file is not there; asking again will not
//! make it so).

use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use vm::ChecksumAlgorithm;

use super::{Hasher, PullOptions};
use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("build the HTTP client")]
    Client(#[source] http_client::SetupError),
    #[error("the server answered {status}")]
    Status { status: reqwest::StatusCode },
    #[error("talk to the server ({attempts} tries)")]
    Transport {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the index lists no file matching the pattern (it lists: {listed})")]
    NoMatch { listed: String },
    #[error("the pattern is not a glob")]
    Pattern(#[source] glob::PatternError),
}

/// What one try ended with: retried, or final.
enum Try<T> {
    Done(T),
    Again(reqwest::Error),
    Fail(FetchError),
}

/// Proxies and extra CA certificates come from the environment (see `http_client`): a mirror
/// behind the same company proxy as the forge is reached the same way.
pub(super) fn client() -> Result<reqwest::Client, FetchError> {
    http_client::client(|builder| {
        builder
            .user_agent(concat!("solstice-images/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            // Between two reads of a body, not for the whole download (images are hundreds of MB).
            .read_timeout(Duration::from_secs(60))
    })
    .map_err(FetchError::Client)
}

/// A whole small text body.
pub(super) async fn text(client: &reqwest::Client, url: &str, options: &PullOptions) -> Result<String, FetchError> {
    retrying(options, || async {
        let response = match send(client, url).await {
            Ok(response) => response,
            Err(other) => return other,
        };
        match response.text().await {
            Ok(text) => Try::Done(text),
            Err(error) => Try::Again(error),
        }
    })
    .await
}

/// The URL of the greatest file name matching `pattern` among the links of the HTML index at
/// `index`.
pub(super) async fn newest_in_listing(
    client: &reqwest::Client,
    index: &str,
    pattern: &str,
    options: &PullOptions,
) -> Result<String, FetchError> {
    let glob = glob::Pattern::new(pattern).map_err(FetchError::Pattern)?;
    let page = text(client, index, options).await?;
    let names = linked_names(&page);
    // Links are relative to the index's directory (the index itself may be a named file).
    let base = index.rfind('/').map_or(index, |slash| &index[..=slash]);
    match names.iter().filter(|name| glob.matches(name)).max() {
        Some(name) => Ok(format!("{base}{name}")),
        None => Err(FetchError::NoMatch { listed: names.join(", ") }),
    }
}

/// The file names an autoindex page links to (`href="name"`, relative, no directories).
fn linked_names(page: &str) -> Vec<String> {
    page.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| !href.contains('/') && !href.starts_with('?') && !href.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Streams `url` into `path` (replacing it on each try), hashing as it goes; returns the hash.
pub(super) async fn download(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
    algorithm: ChecksumAlgorithm,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<String, FetchError> {
    let name = url.rsplit('/').next().unwrap_or(url);
    retrying(options, || async {
        let mut response = match send(client, url).await {
            Ok(response) => response,
            Err(other) => return other,
        };
        let write = |source| Try::Fail(FetchError::Write { path: path.to_owned(), source });
        let mut file = match tokio::fs::File::create(path).await {
            Ok(file) => file,
            Err(error) => return write(error),
        };
        let mut hasher = Hasher::new(algorithm);
        progress.phase(&format!("download {name}"), response.content_length());
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    hasher.update(&chunk);
                    if let Err(error) = file.write_all(&chunk).await {
                        return write(error);
                    }
                    progress.advance(chunk.len() as u64);
                }
                Ok(None) => break,
                Err(error) => return Try::Again(error),
            }
        }
        if let Err(error) = file.sync_all().await {
            return write(error);
        }
        progress.finish();
        Try::Done(hasher.hex())
    })
    .await
}

/// Sends a GET; a 4xx is final, a 5xx or a transport error is tried again.
async fn send<T>(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, Try<T>> {
    let response = client.get(url).send().await.map_err(Try::Again)?;
    let status = response.status();
    if status.is_success() {
        Ok(response)
    } else if status.is_client_error() {
        Err(Try::Fail(FetchError::Status { status }))
    } else {
        match response.error_for_status() {
            Err(error) => Err(Try::Again(error)),
            Ok(_) => Err(Try::Fail(FetchError::Status { status })),
        }
    }
}

async fn retrying<T, F, Fut>(options: &PullOptions, mut once: F) -> Result<T, FetchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Try<T>>,
{
    let attempts = options.attempts.max(1);
    let mut delay = options.retry_delay;
    let mut tried = 0;
    loop {
        tried += 1;
        match once().await {
            Try::Done(value) => return Ok(value),
            Try::Fail(error) => return Err(error),
            Try::Again(error) if tried >= attempts => {
                return Err(FetchError::Transport { attempts: tried, source: error });
            }
            Try::Again(error) => {
                tracing::warn!(error = %error, try_ = tried, "HTTP request failed; trying again in {} ms", delay.as_millis());
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_yields_its_relative_file_links() {
        let page = r#"<a href="../">../</a><a href="?C=M">sort</a>
            <a href="omnios-bloody-20261101.cloud.raw.zst">x</a>
            <a href="omnios-bloody-20261101.cloud.raw.zst.sha256">x</a>
            <a href="omnios-bloody-20261115.cloud.raw.zst">x</a><a href="https://elsewhere/x">x</a>"#;
        let names = linked_names(page);
        let glob = glob::Pattern::new("omnios-bloody-*.cloud.raw.zst").unwrap();
        let newest = names.iter().filter(|name| glob.matches(name)).max();
        assert_eq!(newest.map(String::as_str), Some("omnios-bloody-20261115.cloud.raw.zst"));
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
