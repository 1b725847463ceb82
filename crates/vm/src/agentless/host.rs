//! [`Host`] over the job's SSH session: the engine's seam for a guest without an agent. Every
//! file operation is a small command on an exec channel of its own (`cat`, `mkdir -p`,
//! `rm -rf`, `tar -x`), with every path quoted; processes are in `process.rs`, `hashFiles()` in
//! `hash.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use engine::{Host, HostError, Platform, SpawnSpec, Spawned, TarSink};
use tokio::sync::mpsc;

use super::command;
use super::process::{self, SignalRequest};
use super::quote::{quote, quote_path};
use super::unpack::SshTarSink;
use crate::ssh::Session;

/// `read_file`'s exit code for a missing file (chosen so `cat` cannot produce it).
const MISSING: u32 = 44;

/// Variables of the login shell that describe that shell, not the environment a step starts
/// from; the step's own shell sets them again.
const SHELL_STATE: [&str; 4] = ["_", "PWD", "OLDPWD", "SHLVL"];

/// The guest reached over SSH, as the user the image names.
pub(crate) struct SshHost<'a> {
    session: &'a Session,
    signals: mpsc::Sender<SignalRequest>,
}

impl<'a> SshHost<'a> {
    /// `signals` is served by whoever owns the session for as long as processes live.
    pub(crate) fn new(session: &'a Session, signals: mpsc::Sender<SignalRequest>) -> SshHost<'a> {
        SshHost { session, signals }
    }
}

#[async_trait]
impl Host for SshHost<'_> {
    async fn platform(&self) -> Result<Platform, HostError> {
        let output = command::check(self.session, "uname -s; uname -m", b"").await?;
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let system = lines.next().unwrap_or_default();
        let machine = lines.next().unwrap_or_default();
        Ok(Platform::from_uname(system, machine))
    }

    async fn base_env(&self) -> Result<BTreeMap<String, String>, HostError> {
        let output = command::check(self.session, "env", b"").await?;
        let mut env = parse_env(&String::from_utf8_lossy(&output.stdout));
        env.retain(|name, _| !SHELL_STATE.contains(&name.as_str()));
        Ok(env)
    }

    async fn spawn(&self, spec: SpawnSpec) -> Result<Spawned, HostError> {
        process::spawn(self.session, spec, self.signals.clone()).await
    }

    async fn find_program(&self, name: &str, path_var: &str) -> Result<Option<PathBuf>, HostError> {
        let candidates: Vec<String> = if name.contains('/') {
            vec![name.to_owned()]
        } else {
            path_var
                .split(':')
                .filter(|d| !d.is_empty())
                .map(|dir| format!("{}/{name}", dir.trim_end_matches('/')))
                .collect()
        };
        if candidates.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = candidates.iter().map(|c| quote(c)).collect();
        let script = format!(
            "for p in {}; do if [ -f \"$p\" ] && [ -x \"$p\" ]; then printf '%s\\n' \"$p\"; exit 0; fi; done; exit 1",
            list.join(" ")
        );
        let output = command::run(self.session, &script, b"").await?;
        match output.status {
            Some(0) => {
                let found = String::from_utf8_lossy(&output.stdout).trim_end_matches('\n').to_owned();
                Ok(Some(PathBuf::from(found)))
            }
            Some(1) => Ok(None),
            _ => Err(output.failure(&script)),
        }
    }

    async fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), HostError> {
        // Mode 0600: scripts, env files and the event may hold text derived from secrets.
        let command = format!("umask 077 && cat > {}", quote_path(path));
        command::check(self.session, &command, contents).await.map(drop)
    }

    async fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, HostError> {
        let path = quote_path(path);
        let command = format!("if [ -e {path} ]; then exec cat {path}; else exit {MISSING}; fi");
        let output = command::run(self.session, &command, b"").await?;
        match output.status {
            Some(0) => Ok(Some(output.stdout)),
            Some(MISSING) => Ok(None),
            _ => Err(output.failure(&command)),
        }
    }

    async fn create_dir_all(&self, path: &Path) -> Result<(), HostError> {
        command::check(self.session, &format!("mkdir -p {}", quote_path(path)), b"").await.map(drop)
    }

    async fn remove_all(&self, path: &Path) -> Result<(), HostError> {
        command::check(self.session, &format!("rm -rf {}", quote_path(path)), b"").await.map(drop)
    }

    async fn unpack_tar(&self, dest: &Path) -> Result<Box<dyn TarSink>, HostError> {
        Ok(Box::new(SshTarSink::start(self.session, dest).await?))
    }

    async fn hash_files(&self, root: &Path, patterns: &[String]) -> Result<String, HostError> {
        super::hash::hash_files(self.session, root, patterns).await
    }
}

/// `env`'s output: a line that starts with `NAME=` starts a variable, any other line continues
/// the value before it (a value with a newline).
fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let starts = line.split_once('=').filter(|(name, _)| super::quote::is_shell_name(name));
        match (starts, current.as_mut()) {
            (Some((name, value)), _) => {
                if let Some((name, value)) = current.take() {
                    env.insert(name, value);
                }
                current = Some((name.to_owned(), value.to_owned()));
            }
            (None, Some((_, value))) => {
                value.push('\n');
                value.push_str(line);
            }
            (None, None) => {}
        }
    }
    if let Some((name, value)) = current {
        env.insert(name, value);
    }
    env
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_output_with_a_multi_line_value() {
        let env = super::parse_env("HOME=/home/runner\nMOTD=line 1\nline 2\nPATH=/bin:/usr/bin\n");
        assert_eq!(env.get("MOTD").map(String::as_str), Some("line 1\nline 2"));
        assert_eq!(env.get("PATH").map(String::as_str), Some("/bin:/usr/bin"));
        assert_eq!(env.len(), 3);
    }
}
