//! The SSH side: a fresh ed25519 key per job that lives only in this process's memory, a russh
//! client session through passt's forward, uploads through `cat` (dropbear has no SFTP).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::{self, Handle, Msg};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use tokio::net::TcpStream;
use zeroize::Zeroize;

/// The job's key pair. Never serialized: the private half dies with this value.
pub(crate) struct JobKey {
    private: Arc<PrivateKey>,
}

impl std::fmt::Debug for JobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("generate the job's SSH key")]
    KeyGen(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("SSH handshake")]
    Handshake(#[source] russh::Error),
    #[error("the guest refused the job's key for user {0}")]
    Refused(String),
    #[error("SSH session")]
    Session(#[source] russh::Error),
    #[error("read {path}")]
    Local {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` in the guest failed ({status}): {stderr}")]
    Remote { command: String, status: String, stderr: String },
}

impl JobKey {
    pub(crate) fn generate(comment: &str) -> Result<JobKey, SshError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SshError::KeyGen(Box::new(e)))?;
        let keypair = Ed25519Keypair::from_seed(&seed);
        seed.zeroize();
        let mut private = PrivateKey::from(keypair);
        private.set_comment(comment);
        Ok(JobKey { private: Arc::new(private) })
    }

    /// The `authorized_keys` line: `ssh-ed25519 AAAA… comment`.
    pub(crate) fn public_openssh(&self) -> Result<String, SshError> {
        self.private.public_key().to_openssh().map_err(|e| SshError::KeyGen(Box::new(e)))
    }
}

/// Accepts the guest's host key: it is made by the guest on its first boot, so there is nothing
/// to check it against. What makes the peer trustworthy is the path: a port bound to 127.0.0.1
/// (inside the VM's own network namespace in `PerVm` mode) that only passt listens on.
struct Client;

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// An authenticated SSH session with the guest.
pub(crate) struct Session {
    handle: Handle<Client>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

impl Session {
    /// Handshake and public-key login over `stream`.
    pub(crate) async fn connect(stream: TcpStream, user: &str, key: &JobKey) -> Result<Session, SshError> {
        let _ = stream.set_nodelay(true);
        let config = client::Config {
            // A guest that stops answering ends the session (and so the job) within ~45 s.
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            inactivity_timeout: None,
            ..Default::default()
        };
        let mut handle = client::connect_stream(Arc::new(config), stream, Client).await.map_err(SshError::Handshake)?;
        let auth = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.private.clone(), None))
            .await
            .map_err(SshError::Handshake)?;
        if !auth.success() {
            return Err(SshError::Refused(user.to_owned()));
        }
        Ok(Session { handle })
    }

    /// Streams `local` into `remote_command`'s stdin (e.g. `cat > FILE && chmod +x FILE`) and
    /// waits for it to succeed.
    pub(crate) async fn upload(&self, local: &Path, remote_command: &str) -> Result<(), SshError> {
        let file =
            tokio::fs::File::open(local).await.map_err(|source| SshError::Local { path: local.to_owned(), source })?;
        let mut channel = self.exec(remote_command).await?;
        channel.data(tokio::io::BufReader::with_capacity(256 * 1024, file)).await.map_err(SshError::Session)?;
        channel.eof().await.map_err(SshError::Session)?;
        let mut status = None;
        let mut stderr = Vec::new();
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExtendedData { data, .. } if stderr.len() < 4096 => stderr.extend_from_slice(&data),
                _ => {}
            }
        }
        match status {
            Some(0) => Ok(()),
            other => Err(SshError::Remote {
                command: remote_command.to_owned(),
                status: other.map_or_else(|| "no exit status".to_owned(), |code| format!("exit code {code}")),
                stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
            }),
        }
    }

    /// Starts `command` on a new session channel.
    pub(crate) async fn exec(&self, command: &str) -> Result<russh::Channel<Msg>, SshError> {
        let channel = self.handle.channel_open_session().await.map_err(SshError::Session)?;
        channel.exec(true, command).await.map_err(SshError::Session)?;
        Ok(channel)
    }

    pub(crate) async fn close(self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "job over", "en").await;
    }
}
