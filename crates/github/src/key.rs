//! The runner's RSA-2048 key (ref §1.2): generated here, never sent anywhere, kept in
//! `.credentials_rsaparams` the way the official runner keeps it (ref §1.5), shown to GitHub as
//! its public half (XML for the runner-admin flow, `{exponent, modulus}` for the legacy flow),
//! and used to sign the JWT client assertions that buy access tokens (ref §2).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The key size the official runner generates (ref §1.2).
pub const KEY_BITS: usize = 2048;

/// The PSS salt length of PS256 (ref §2: salt = 32 bytes, the SHA-256 output size).
const PSS_SALT_LEN: usize = 32;

/// The runner's private key. `Debug` shows only its size, never a private part.
#[derive(Clone)]
pub struct RunnerKey {
    private: RsaPrivateKey,
}

/// How a JWT client assertion is signed (ref §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// RSASSA-PSS with SHA-256 and a 32-byte salt: what FIPS mode and the broker flow use.
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: the older default.
    Rs256,
}

impl JwtAlgorithm {
    /// The JWT header's `alg`.
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Ps256 => "PS256",
            JwtAlgorithm::Rs256 => "RS256",
        }
    }
}

/// The legacy flow's `TaskAgentPublicKey` (ref §1.2): big-endian integers in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyJson {
    pub exponent: String,
    pub modulus: String,
}

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("generate an RSA-{KEY_BITS} key")]
    Generate(#[source] rsa::Error),
    #[error("parse .credentials_rsaparams as JSON")]
    Json(#[source] serde_json::Error),
    #[error("find {0:?} in .credentials_rsaparams")]
    Missing(&'static str),
    #[error("decode the base64 of {0:?} in .credentials_rsaparams")]
    Base64(&'static str, #[source] base64::DecodeError),
    #[error("rebuild the RSA key from .credentials_rsaparams")]
    Invalid(#[source] rsa::Error),
    #[error("sign a JWT with {0}")]
    Sign(&'static str, #[source] rsa::signature::Error),
}

impl RunnerKey {
    /// A fresh RSA-2048 key. This is CPU-bound (a second or more in debug builds), so async
    /// callers run it on a blocking thread.
    pub fn generate() -> Result<Self, KeyError> {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS).map_err(KeyError::Generate)?;
        Ok(Self { private })
    }

    /// Wraps a key made elsewhere (a JIT config's, or a test's).
    pub fn from_private(private: RsaPrivateKey) -> Self {
        Self { private }
    }

    /// The public half, for checking signatures.
    pub fn public_key(&self) -> rsa::RsaPublicKey {
        self.private.to_public_key()
    }

    /// The .NET XML form the runner-admin register call takes as `public_key` (ref §1.2, §1.3).
    pub fn xml_public_key(&self) -> String {
        let PublicKeyJson { exponent, modulus } = self.exponent_modulus();
        format!("<RSAKeyValue><Modulus>{modulus}</Modulus><Exponent>{exponent}</Exponent></RSAKeyValue>")
    }

    /// The `{exponent, modulus}` pair of the legacy flow (ref §1.2): no leading zeros, so the
    /// usual exponent is `AQAB`.
    pub fn exponent_modulus(&self) -> PublicKeyJson {
        PublicKeyJson {
            exponent: STANDARD.encode(self.private.e().to_bytes_be()),
            modulus: STANDARD.encode(self.private.n().to_bytes_be()),
        }
    }

    /// `.credentials_rsaparams` as .NET exports it (ref §1.5): D and the modulus as long as the
    /// modulus, P, Q, DP, DQ and InverseQ half as long, leading zeros kept, so the official
    /// runner can read our files too.
    pub fn to_rsa_params(&self) -> String {
        let key = &self.private;
        let size = key.size();
        let half = size.div_ceil(2);
        let one = BigUint::from(1u8);
        let zero = BigUint::default();
        let primes = key.primes();
        let (p, q) = (primes.first().unwrap_or(&zero), primes.get(1).unwrap_or(&zero));
        // A key whose primes are 0 cannot exist (validate() refuses them); guard the
        // subtraction anyway so a bad key never panics here.
        let dp = if *p > one { key.d() % (p - &one) } else { zero.clone() };
        let dq = if *q > one { key.d() % (q - &one) } else { zero.clone() };
        let inverse_q = key.crt_coefficient().unwrap_or_default();
        let params = serde_json::json!({
            "d": padded(key.d(), size),
            "dp": padded(&dp, half),
            "dq": padded(&dq, half),
            "exponent": STANDARD.encode(key.e().to_bytes_be()),
            "inverseQ": padded(&inverse_q, half),
            "modulus": padded(key.n(), size),
            "p": padded(p, half),
            "q": padded(q, half),
        });
        params.to_string()
    }

    /// Reads `.credentials_rsaparams`; key names are matched case-insensitively (PascalCase
    /// writers exist, ref §1.5). Only modulus, exponent, d, p and q are needed; the CRT values
    /// are recomputed.
    pub fn from_rsa_params(text: &[u8]) -> Result<Self, KeyError> {
        let value: serde_json::Value = serde_json::from_slice(text).map_err(KeyError::Json)?;
        let number = |name: &'static str| -> Result<BigUint, KeyError> {
            let text = value
                .as_object()
                .and_then(|object| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
                .and_then(|(_, value)| value.as_str())
                .ok_or(KeyError::Missing(name))?;
            let bytes = STANDARD.decode(text.trim()).map_err(|source| KeyError::Base64(name, source))?;
            Ok(BigUint::from_bytes_be(&bytes))
        };
        let (n, e, d) = (number("modulus")?, number("exponent")?, number("d")?);
        let primes = vec![number("p")?, number("q")?];
        let private = RsaPrivateKey::from_components(n, e, d, primes).map_err(KeyError::Invalid)?;
        Ok(Self { private })
    }

    /// A compact JWS over `claims` (ref §2): header `{"typ":"JWT","alg":…}`, base64url without
    /// padding.
    pub fn sign_jwt(&self, algorithm: JwtAlgorithm, claims: &serde_json::Value) -> Result<String, KeyError> {
        let header = serde_json::json!({"typ": "JWT", "alg": algorithm.name()});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = match algorithm {
            JwtAlgorithm::Ps256 => {
                rsa::pss::BlindedSigningKey::<Sha256>::new_with_salt_len(self.private.clone(), PSS_SALT_LEN)
                    .try_sign_with_rng(&mut rsa::rand_core::OsRng, signing_input.as_bytes())
                    .map_err(|source| KeyError::Sign("PS256", source))?
                    .to_vec()
            }
            JwtAlgorithm::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(self.private.clone())
                .try_sign(signing_input.as_bytes())
                .map_err(|source| KeyError::Sign("RS256", source))?
                .to_vec(),
        };
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

impl std::fmt::Debug for RunnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerKey").field("bits", &(self.private.size() * 8)).finish_non_exhaustive()
    }
}

/// `n` big-endian, left-padded with zeros to `len` bytes.
fn padded(n: &BigUint, len: usize) -> String {
    let bytes = n.to_bytes_be();
    let mut out = vec![0; len.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    STANDARD.encode(out)
}
