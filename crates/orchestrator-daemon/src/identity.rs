//! The orchestrator's stable id: made once, kept in `<state dir>/orchestrator-id`, so that a
//! restarted orchestrator finds its own lease, attempts and cancel queue again.

use std::path::Path;

use crate::DaemonError;

const FILE: &str = "orchestrator-id";

/// Reads the id kept under `state_dir`, or makes one (`orch-<ulid>`) and keeps it.
pub fn orchestrator_id(state_dir: &Path) -> Result<String, DaemonError> {
    let identity = |source| DaemonError::Identity { dir: state_dir.to_owned(), source };
    let path = state_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(identity(error)),
    }
    std::fs::create_dir_all(state_dir).map_err(identity)?;
    let id = format!("orch-{}", ulid::Ulid::new().to_string().to_lowercase());
    // Written aside and renamed, so a crash never leaves a half-written id.
    let partial = state_dir.join(format!("{FILE}.partial"));
    std::fs::write(&partial, format!("{id}\n")).map_err(identity)?;
    std::fs::rename(&partial, &path).map_err(identity)?;
    Ok(id)
}
