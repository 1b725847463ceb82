//! The orchestrator's stable id (see [`orchestrator::orchestrator_id`]), as a daemon error.

use std::path::Path;

use crate::DaemonError;

/// Reads the id kept under `state_dir`, or makes one (`orch-<ulid>`) and keeps it.
pub fn orchestrator_id(state_dir: &Path) -> Result<String, DaemonError> {
    orchestrator::orchestrator_id(state_dir)
        .map_err(|source| DaemonError::Identity { dir: state_dir.to_owned(), source })
}
