use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;
use zeroize::{Zeroize, Zeroizing};

/// A secret encrypted for the bus: AES-256-GCM under `SOLSTICE_BUS_KEY`, with the job id as
/// associated data so a ciphertext cannot be replayed into another job (brief §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Which key sealed it: the first 8 bytes of SHA-256 of the key, hex.
    pub key_id: String,
    /// 12 random bytes, standard base64.
    pub nonce: String,
    /// Ciphertext with the GCM tag appended, standard base64.
    pub ciphertext: String,
}

/// The 32-byte bus key. Never printed.
#[derive(Clone)]
pub struct BusKey {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("parse the bus key: it is not standard base64")]
    NotBase64,
    #[error("use the bus key: it decodes to {0} bytes, it must be exactly 32")]
    WrongLength(usize),
    #[error("generate a bus key: the system's random source failed")]
    NoRandom,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("open secret: it was sealed under key {found}, this process holds key {expected}")]
    WrongKey { expected: String, found: String },
    #[error("open secret: its nonce or ciphertext is not valid base64 of the right size")]
    Malformed,
    #[error("open secret: authentication failed (wrong job, or tampered)")]
    Forged,
    #[error("seal secret: the system's random source failed")]
    NoRandom,
    #[error("open secret: the plaintext is not UTF-8")]
    NotUtf8,
}

impl BusKey {
    /// Parses `SOLSTICE_BUS_KEY`: standard base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let mut decoded = STANDARD.decode(text.trim()).map_err(|_| KeyError::NotBase64)?;
        if decoded.len() != 32 {
            let len = decoded.len();
            decoded.zeroize();
            return Err(KeyError::WrongLength(len));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&decoded);
        decoded.zeroize();
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh random key, as `solstice run` and `solstice serve` make one per process.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| KeyError::NoRandom)?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        let digest = Sha256::digest(bytes.as_ref());
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        BusKey { bytes, id }
    }

    /// The key as standard base64, for handing it to the agent on its stdin.
    pub fn to_base64(&self) -> SecretString {
        SecretString::new(STANDARD.encode(self.bytes.as_ref()))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn seal(&self, job_id: Ulid, plaintext: &str) -> Result<Sealed, SealError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SealError::NoRandom)?;
        let aad = job_id.to_string();
        let ciphertext = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() })
            .map_err(|_| SealError::Forged)?;
        Ok(Sealed { key_id: self.id.clone(), nonce: STANDARD.encode(nonce), ciphertext: STANDARD.encode(ciphertext) })
    }

    pub fn open(&self, job_id: Ulid, sealed: &Sealed) -> Result<SecretString, SealError> {
        if sealed.key_id != self.id {
            return Err(SealError::WrongKey { expected: self.id.clone(), found: sealed.key_id.clone() });
        }
        let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| SealError::Malformed)?;
        if nonce.len() != 12 {
            return Err(SealError::Malformed);
        }
        let ciphertext = STANDARD.decode(&sealed.ciphertext).map_err(|_| SealError::Malformed)?;
        let aad = job_id.to_string();
        let plain = self
            .cipher()
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: aad.as_bytes() })
            .map_err(|_| SealError::Forged)?;
        let text = String::from_utf8(plain).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            SealError::NotUtf8
        })?;
        Ok(SecretString::new(text))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.bytes.as_ref().into())
    }
}

impl fmt::Debug for BusKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A secret in clear, in memory only: zeroed on drop, `***` when printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

/// Why a job's secrets could not be opened. The text is what the job's log shows, so it says
/// which secret and why in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum OpenSecretsError {
    #[error("The job's secrets cannot be opened: {0}")]
    Key(KeyError),
    #[error("The job's secret '{name}' cannot be opened: {error}")]
    Secret { name: String, error: SealError },
}
