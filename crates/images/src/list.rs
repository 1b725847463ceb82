//! `solstice images list`: what the catalog offers and what of it is on this host.

use std::path::Path;

use vm::Catalog;

/// One catalog label as `solstice images list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub label: String,
    pub os: String,
    pub description: String,
    /// Every file the image boots from is in its directory.
    pub cached: bool,
    /// Bytes the image's directory takes (its files' lengths; a qcow2 is sparse-free, so this is
    /// what the disk holds); `None` when nothing is there.
    pub size: Option<u64>,
    /// How it gets here: `pull` (a download) or `build` (made on this host by a script).
    pub origin: &'static str,
}

/// Every label of `catalog`, in label order, with what `<state_dir>/images/<label>/` holds.
pub fn list(catalog: &Catalog, state_dir: &Path) -> Vec<ListEntry> {
    let images = crate::images_dir(state_dir);
    catalog
        .labels()
        .filter_map(|label| catalog.get(label))
        .map(|image| {
            let dir = images.join(&image.label);
            let cached = crate::boot_files(image).iter().all(|file| dir.join(file).is_file());
            ListEntry {
                label: image.label.clone(),
                os: image.os.clone(),
                description: image.description.clone(),
                cached,
                size: dir_size(&dir),
                origin: if image.download.is_some() { "pull" } else { "build" },
            }
        })
        .collect()
}

/// The summed length of the regular files directly in `dir` (following a symlinked `dir`, as
/// `linux-test-agentless` is one); `None` when `dir` is missing or empty.
fn dir_size(dir: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut total = 0;
    let mut any = false;
    for entry in entries.flatten() {
        if let Ok(meta) = std::fs::metadata(entry.path())
            && meta.is_file()
        {
            total += meta.len();
            any = true;
        }
    }
    any.then_some(total)
}
