//! JIT configs (ref §1.6): base64 of a JSON object mapping each file name to the base64 of the
//! file, the same three files `config.sh` would write, for an ephemeral runner made by the server.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use super::{CREDENTIALS_FILE, FilesError, KEY_FILE, RUNNER_FILE, Registration, parse};
use crate::key::RunnerKey;

/// The registration and key inside an `encoded_jit_config`. A JIT runner is always ephemeral
/// (ref §1.6), whatever its `.runner` says; it has no labels of ours and no GitHub URL.
pub fn from_jit_config(encoded: &str) -> Result<(Registration, RunnerKey), FilesError> {
    let outer = decode(encoded).ok_or_else(|| FilesError::Jit("it is not base64".into()))?;
    let files: serde_json::Value = serde_json::from_slice(&outer)
        .map_err(|error| FilesError::Jit(format!("it is not a JSON object ({error})")))?;
    let file = |name: &str| -> Result<Vec<u8>, FilesError> {
        let text = files
            .as_object()
            .and_then(|object| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
            .and_then(|(_, value)| value.as_str())
            .ok_or_else(|| FilesError::Jit(format!("it has no {name} file")))?;
        decode(text).ok_or_else(|| FilesError::Jit(format!("its {name} file is not base64")))
    };
    let (runner, credentials, key) = (file(RUNNER_FILE)?, file(CREDENTIALS_FILE)?, file(KEY_FILE)?);
    let (mut registration, key) = parse(&runner, &credentials, &key)?;
    registration.ephemeral = true;
    Ok((registration, key))
}

/// Standard base64 with or without padding, surrounding whitespace ignored.
fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    STANDARD.decode(text).or_else(|_| STANDARD_NO_PAD.decode(text)).ok()
}
