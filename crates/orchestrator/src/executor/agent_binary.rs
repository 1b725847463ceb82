use std::path::{Path, PathBuf};

/// The agent's file name.
pub const AGENT_NAME: &str = if cfg!(windows) { "workflow-runner.exe" } else { "workflow-runner" };

/// The target triple this program was built for, where the local executor looks for the agent.
pub const HOST_TARGET: &str = env!("SOLSTICE_HOST_TARGET");

#[derive(Debug, thiserror::Error)]
#[error("find the agent binary {AGENT_NAME}: looked at {}", .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
pub struct AgentNotFound {
    pub tried: Vec<PathBuf>,
}

/// Finds the agent for the host: `$SOLSTICE_AGENT_DIR/<host target triple>/workflow-runner`
/// first (pass the variable's value as `agent_dir`), then `workflow-runner` beside the running
/// executable (`cargo build --workspace --bins` puts both in `target/<profile>/`).
pub fn locate_agent(agent_dir: Option<&Path>) -> Result<PathBuf, AgentNotFound> {
    let mut tried = Vec::new();
    if let Some(dir) = agent_dir {
        tried.push(dir.join(HOST_TARGET).join(AGENT_NAME));
    }
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        tried.push(dir.join(AGENT_NAME));
    }
    match tried.iter().find(|path| path.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(AgentNotFound { tried }),
    }
}
