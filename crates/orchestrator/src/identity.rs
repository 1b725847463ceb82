//! An orchestrator's stable id: made once, kept in `<state dir>/orchestrator-id`, so that a
//! restarted orchestrator (the daemon or `solstice serve`) finds its own lease, attempts and
//! cancel queue again.

use std::path::Path;

const FILE: &str = "orchestrator-id";

/// Reads the id kept under `state_dir`, or makes one (`orch-<ulid>`) and keeps it, creating
/// `state_dir` if needed.
pub fn orchestrator_id(state_dir: &Path) -> std::io::Result<String> {
    let path = state_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    std::fs::create_dir_all(state_dir)?;
    let id = format!("orch-{}", ulid::Ulid::new().to_string().to_lowercase());
    // Written aside and renamed, so a crash never leaves a half-written id.
    let partial = state_dir.join(format!("{FILE}.partial"));
    std::fs::write(&partial, format!("{id}\n"))?;
    std::fs::rename(&partial, &path)?;
    Ok(id)
}
