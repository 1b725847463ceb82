//! `solstice images pull LABEL`: resolve the image's URL, fetch its checksum source, download
//! while hashing, verify, decompress, convert to qcow2, install atomically.

mod checksum;
mod fetch;
mod staging;
mod unpack;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vm::{Catalog, ChecksumAlgorithm, DownloadSource};

use crate::progress::Progress;
pub use checksum::ChecksumError;
pub use fetch::FetchError;
pub use unpack::UnpackError;

/// How a pull behaves; [`PullOptions::default`] is what `solstice images pull` uses.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Download again even when the image is already here.
    pub force: bool,
    /// Tries per HTTP request (listing, checksum file, image) before the pull fails.
    pub attempts: u32,
    /// The pause before the second try; it doubles after each further failure.
    pub retry_delay: Duration,
    /// `qemu-img`, for the conversion to qcow2 and the final check.
    pub qemu_img: PathBuf,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            force: false,
            attempts: 3,
            retry_delay: Duration::from_secs(2),
            qemu_img: vm::Tools::from_path().qemu_img,
        }
    }
}

/// Why a pull failed. Whatever the reason, nothing half-made is left under `images/<label>`.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pull {label}: no image with this label in the catalog (it has: {known})")]
    UnknownLabel { label: String, known: String },
    #[error("pull {label}: it is built on this host, not downloaded ({hint})")]
    NotDownloadable { label: String, hint: String },
    #[error("pull {label}: another pull of it is running (it holds {})", lock.display())]
    Busy { label: String, lock: PathBuf },
    #[error("prepare {}", path.display())]
    Staging {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("find the newest file matching {pattern} in {index}")]
    Resolve {
        index: String,
        pattern: String,
        #[source]
        source: FetchError,
    },
    #[error("fetch {url}")]
    Fetch {
        url: String,
        #[source]
        source: FetchError,
    },
    #[error("find the {algorithm} of {file} in {url}")]
    ChecksumSource {
        url: String,
        file: String,
        algorithm: &'static str,
        #[source]
        source: ChecksumError,
    },
    #[error("verify {file}: its {algorithm} is {actual} but {url} says {expected}")]
    Mismatch { file: String, url: String, algorithm: &'static str, expected: String, actual: String },
    #[error("unpack {file}")]
    Unpack {
        file: String,
        #[source]
        source: UnpackError,
    },
    #[error("install {}", path.display())]
    Install {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PullError {
    /// Brief §3.7: a label the catalog does not offer for download is bad input (2); everything
    /// else is the dependency (the publisher, the network, the disk, `qemu-img`) failing (3).
    pub fn exit_code(&self) -> u8 {
        match self {
            PullError::UnknownLabel { .. } | PullError::NotDownloadable { .. } => 2,
            _ => 3,
        }
    }
}

/// Pulls `label` into `<state_dir>/images/<label>/` and returns that directory. An image already
/// there is left alone unless `options.force`. Everything is made in a staging directory beside
/// it and renamed into place at the end; a failed or interrupted pull leaves only that staging
/// directory (removed when the future is dropped, else by the next pull of the label).
pub async fn pull(
    catalog: &Catalog,
    label: &str,
    state_dir: &Path,
    options: &PullOptions,
    progress: Arc<dyn Progress>,
) -> Result<PathBuf, PullError> {
    let Some(image) = catalog.get(label) else {
        let known = catalog.labels().collect::<Vec<_>>().join(", ");
        return Err(PullError::UnknownLabel { label: label.to_owned(), known });
    };
    let (Some(download), Some(disk)) = (&image.download, &image.disk) else {
        let hint = "images/README.md says how to build it".to_owned();
        return Err(PullError::NotDownloadable { label: label.to_owned(), hint });
    };
    let images = crate::images_dir(state_dir);
    let target = images.join(label);
    let _lock = staging::Lock::take(&images, label)?;
    staging::remove_leftovers(&images, label);
    if !options.force && target.join(&disk.file).is_file() {
        tracing::info!(label, dir = %target.display(), "already pulled");
        return Ok(target);
    }
    let stage = staging::Staging::create(&images, label)?;
    let client = fetch::client().map_err(|source| PullError::Fetch { url: "(no request yet)".into(), source })?;

    let url = match &download.source {
        DownloadSource::Url(url) => url.clone(),
        DownloadSource::Listing { index, pattern } => fetch::newest_in_listing(&client, index, pattern, options)
            .await
            .map_err(|source| PullError::Resolve { index: index.clone(), pattern: pattern.clone(), source })?,
    };
    let file = url.rsplit('/').next().unwrap_or(&url).to_owned();
    let checksum_url = download.checksum_url.replace("{url}", &url).replace("{file}", &file);
    let algorithm = download.checksum;
    tracing::info!(label, %url, %checksum_url, "pulling");
    let sums = fetch::text(&client, &checksum_url, options)
        .await
        .map_err(|source| PullError::Fetch { url: checksum_url.clone(), source })?;
    let expected = checksum::find(&sums, &file, algorithm).map_err(|source| PullError::ChecksumSource {
        url: checksum_url.clone(),
        file: file.clone(),
        algorithm: algorithm.as_str(),
        source,
    })?;

    // A fixed name: the remote one (from a channel's index, say) is never a path here.
    let fetched = stage.path().join("download");
    let actual = fetch::download(&client, &url, &fetched, algorithm, options, progress.as_ref())
        .await
        .map_err(|source| PullError::Fetch { url: url.clone(), source })?;
    if actual != expected {
        return Err(PullError::Mismatch { file, url: checksum_url, algorithm: algorithm.as_str(), expected, actual });
    }

    let unpack = |source| PullError::Unpack { file: file.clone(), source };
    let unpacked = stage.path().join(format!("unpacked.{}", download.format.as_str()));
    unpack::decompress(download.compression, &fetched, &unpacked, progress.clone()).await.map_err(unpack)?;
    let disk_path = stage.path().join(&disk.file);
    progress.phase("convert to qcow2", None);
    unpack::to_qcow2(&options.qemu_img, download.format, &unpacked, &disk_path).await.map_err(unpack)?;
    progress.finish();
    let record = format!("url = {url:?}\nchecksum_url = {checksum_url:?}\n{} = {expected:?}\n", algorithm.as_str());
    std::fs::write(stage.path().join("pulled.toml"), record)
        .map_err(|source| PullError::Install { path: stage.path().join("pulled.toml"), source })?;
    stage.install(&target)?;
    tracing::info!(label, dir = %target.display(), "pulled");
    Ok(target)
}

/// A running digest of one of the catalog's algorithms, as lowercase hex at the end.
pub(crate) enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub(crate) fn new(algorithm: ChecksumAlgorithm) -> Hasher {
        use sha2::Digest;
        match algorithm {
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            ChecksumAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Sha256(hasher) => hasher.update(bytes),
            Hasher::Sha512(hasher) => hasher.update(bytes),
        }
    }

    pub(crate) fn hex(self) -> String {
        use sha2::Digest;
        let bytes = match self {
            Hasher::Sha256(hasher) => hasher.finalize().to_vec(),
            Hasher::Sha512(hasher) => hasher.finalize().to_vec(),
        };
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}
