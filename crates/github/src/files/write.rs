//! Writing a registration's files privately: the directory 0700, each file 0600 from the moment
//! it exists (a temporary file beside it, then a rename), so the key is never readable by others,
//! not even for a moment.

use std::io::Write;
use std::path::Path;

use super::FilesError;

/// Creates `dir` (and its parents) if missing and makes it 0700.
pub(super) fn directory(dir: &Path) -> Result<(), FilesError> {
    let failed = |source| FilesError::Write { path: dir.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically, mode 0600.
pub(super) fn private_file(path: &Path, bytes: &[u8]) -> Result<(), FilesError> {
    let failed = |source| FilesError::Write { path: path.to_owned(), source };
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!("{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temporary)?;
        // A temporary file left by a crash keeps its old mode; make sure of 0600 before writing.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(failed)
}
