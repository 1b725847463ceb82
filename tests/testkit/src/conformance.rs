//! Where the `actions-languageservices` conformance vectors are.

use std::path::{Path, PathBuf};

/// The `actions-languageservices` directory: `SOLSTICE_CONFORMANCE_DIR` when set (then it must
/// exist), else the shared checkout beside the repository, if there is one. `None` means the
/// caller skips its conformance test.
pub fn actions_languageservices() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SOLSTICE_CONFORMANCE_DIR") {
        let dir = PathBuf::from(dir);
        assert!(dir.is_dir(), "SOLSTICE_CONFORMANCE_DIR={} does not exist", dir.display());
        return Some(dir);
    }
    // This crate sits two levels below the repository root, like every crate under crates/.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../../shared/conformance/actions-languageservices"),
        PathBuf::from("/work/shared/conformance/actions-languageservices"),
    ]
    .into_iter()
    .find(|dir| dir.is_dir())
}
