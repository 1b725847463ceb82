//! The pull's working directory and its installation. Both live in the images directory, so the
//! final step is a rename on one file system: an image directory is either the old complete
//! image, absent, or the new complete image, never half of one.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::PullError;

/// One pull per label at a time: an exclusive lock on `images/.pull-<label>.lock`, released
/// when dropped (or when the process dies).
pub(super) struct Lock {
    _file: File,
}

impl Lock {
    pub(super) fn take(images: &Path, label: &str) -> Result<Lock, PullError> {
        std::fs::create_dir_all(images).map_err(|source| PullError::Staging { path: images.to_owned(), source })?;
        let path = images.join(format!(".pull-{label}.lock"));
        let file = File::create(&path).map_err(|source| PullError::Staging { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(PullError::Busy { label: label.to_owned(), lock: path }),
            Err(std::fs::TryLockError::Error(source)) => Err(PullError::Staging { path, source }),
        }
    }
}

/// Removes what an earlier pull of `label` left when it was killed: its staging directories and
/// a replaced image it had not removed yet. Called with the [`Lock`] held, so none is in use.
pub(super) fn remove_leftovers(images: &Path, label: &str) {
    let Ok(entries) = std::fs::read_dir(images) else { return };
    let prefixes = [format!(".pull-{label}-"), format!(".old-{label}-")];
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if prefixes.iter().any(|prefix| name.starts_with(prefix.as_str())) {
            tracing::info!(dir = %entry.path().display(), "removing what an interrupted pull left");
            if let Err(error) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(dir = %entry.path().display(), %error, "cannot remove an interrupted pull's directory");
            }
        }
    }
}

/// `images/.pull-<label>-<ulid>/`, removed on drop unless installed.
pub(super) struct Staging {
    dir: Option<PathBuf>,
    images: PathBuf,
    label: String,
}

impl Staging {
    pub(super) fn create(images: &Path, label: &str) -> Result<Staging, PullError> {
        let dir = images.join(format!(".pull-{label}-{}", ulid::Ulid::new()));
        std::fs::create_dir(&dir).map_err(|source| PullError::Staging { path: dir.clone(), source })?;
        Ok(Staging { dir: Some(dir), images: images.to_owned(), label: label.to_owned() })
    }

    pub(super) fn path(&self) -> &Path {
        // Only `install` takes the dir, and it consumes `self`.
        self.dir.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    /// Renames the staging directory to `target`; an image already there is moved aside first
    /// and removed after.
    pub(super) fn install(mut self, target: &Path) -> Result<(), PullError> {
        let install = |source| PullError::Install { path: target.to_owned(), source };
        let old = if std::fs::symlink_metadata(target).is_ok() {
            let aside = self.images.join(format!(".old-{}-{}", self.label, ulid::Ulid::new()));
            std::fs::rename(target, &aside).map_err(install)?;
            Some(aside)
        } else {
            None
        };
        let dir = self.dir.take().ok_or_else(|| install(std::io::ErrorKind::NotFound.into()))?;
        if let Err(error) = std::fs::rename(&dir, target) {
            self.dir = Some(dir);
            if let Some(old) = &old {
                let _ = std::fs::rename(old, target);
            }
            return Err(install(error));
        }
        if let Some(old) = old
            && let Err(error) = std::fs::remove_dir_all(&old)
        {
            tracing::warn!(dir = %old.display(), %error, "cannot remove the replaced image; the next pull will");
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take()
            && let Err(error) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(dir = %dir.display(), %error, "cannot remove a failed pull's directory; the next pull will");
        }
    }
}
