//! The NoCloud seed: a FAT file system labelled `cidata` holding `meta-data` (instance id and
//! hostname) and `user-data` (the job's public key), attached as a read-only drive.
//!
//! Built with `mkfs.vfat` and `mcopy` (dosfstools, mtools) rather than a Rust FAT writer: the one
//! Rust FAT crate (`fatfs`) has had no release since 2022, while these two are what the test
//! image's own scripts and the brief verified, and cost two short process runs per job.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::{SeedProfile, UserDataFormat};
use crate::process::{ToolError, confined, run_tool};
use crate::tools::Tools;

/// What the seed tells the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedData {
    /// Unique per boot, so cloud-init treats each boot as a first boot.
    pub instance_id: String,
    /// The job's per-job nonce (tests read it back with `hostname`).
    pub hostname: String,
    /// The user whose `authorized_keys` gets `public_key`.
    pub user: String,
    /// One OpenSSH public key line.
    pub public_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("make the FAT file system")]
    Tool(#[source] ToolError),
}

const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

/// Writes the seed image `path` (its `meta-data`/`user-data` sources pass through `path`'s
/// directory and are removed again).
pub(crate) async fn write(path: &Path, profile: &SeedProfile, data: &SeedData, tools: &Tools) -> Result<(), SeedError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let meta = dir.join("meta-data");
    let user = dir.join("user-data");
    let write = |file: &Path, text: String| {
        std::fs::write(file, text).map_err(|source| SeedError::Write { path: file.to_owned(), source })
    };
    write(&meta, meta_data(data))?;
    write(&user, user_data(profile.user_data, data))?;
    let result = build(path, profile, &meta, &user, tools).await;
    let _ = std::fs::remove_file(&meta);
    let _ = std::fs::remove_file(&user);
    result
}

async fn build(path: &Path, profile: &SeedProfile, meta: &Path, user: &Path, tools: &Tools) -> Result<(), SeedError> {
    let file = std::fs::File::create(path).map_err(|source| SeedError::Write { path: path.to_owned(), source })?;
    file.set_len(profile.size_bytes).map_err(|source| SeedError::Write { path: path.to_owned(), source })?;
    drop(file);
    let mut mkfs = confined(&tools.mkfs_vfat, None);
    mkfs.arg("-n").arg(&profile.label).arg(path);
    run_tool(mkfs, "mkfs.vfat", TOOL_TIMEOUT).await.map_err(SeedError::Tool)?;
    let mut mcopy = confined(&tools.mcopy, None);
    // No ~/.mtoolsrc to honour, and no complaint about a geometry a 2 MB file cannot have.
    mcopy.env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(path).arg(meta).arg(user).arg("::");
    run_tool(mcopy, "mcopy", TOOL_TIMEOUT).await.map_err(SeedError::Tool)
}

pub(crate) fn meta_data(data: &SeedData) -> String {
    format!("instance-id: {}\nlocal-hostname: {}\n", data.instance_id, data.hostname)
}

pub(crate) fn user_data(format: UserDataFormat, data: &SeedData) -> String {
    let (user, key) = (&data.user, &data.public_key);
    match format {
        UserDataFormat::CloudConfig => format!(
            "#cloud-config\n\
             users:\n  \
             - name: {user}\n    \
             sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    \
             ssh_authorized_keys:\n      \
             - {key}\n"
        ),
        UserDataFormat::Script => format!(
            "#!/bin/sh\n\
             # Installs the job's SSH key for {user}.\n\
             set -e\n\
             home=$(getent passwd {user} | cut -d: -f6)\n\
             mkdir -p \"$home/.ssh\"\n\
             printf '%s\\n' '{key}' >> \"$home/.ssh/authorized_keys\"\n\
             chown -R {user} \"$home/.ssh\"\n\
             chmod 700 \"$home/.ssh\"\n\
             chmod 600 \"$home/.ssh/authorized_keys\"\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> SeedData {
        SeedData {
            instance_id: "iid-01J-1-1".into(),
            hostname: "01J".into(),
            user: "runner".into(),
            public_key: "ssh-ed25519 AAAAC3Nza solstice-job".into(),
        }
    }

    #[test]
    fn meta_data_names_instance_and_host() {
        assert_eq!(meta_data(&data()), "instance-id: iid-01J-1-1\nlocal-hostname: 01J\n");
    }

    #[test]
    fn cloud_config_lists_the_key_as_a_block_list_item() {
        // linux-test reads every line that is, after indentation and `- `, a public key.
        let text = user_data(UserDataFormat::CloudConfig, &data());
        assert!(text.starts_with("#cloud-config\nusers:\n  - name: runner\n"), "{text}");
        assert!(text.contains("\n      - ssh-ed25519 AAAAC3Nza solstice-job\n"), "{text}");
    }

    #[test]
    fn script_installs_the_key() {
        let text = user_data(UserDataFormat::Script, &data());
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains("printf '%s\\n' 'ssh-ed25519 AAAAC3Nza solstice-job' >> \"$home/.ssh/authorized_keys\""));
    }
}
