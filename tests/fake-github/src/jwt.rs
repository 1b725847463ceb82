//! Verifying the runner's JWT client assertion (ref §2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPublicKey;
use rsa::signature::Verifier;
use serde::Deserialize;
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("split the JWT into header, claims and signature")]
    Shape,
    #[error("decode the JWT's {0}")]
    Decode(&'static str),
    #[error("accept algorithm {0:?}, only PS256 and RS256 are allowed")]
    Algorithm(String),
    #[error("verify the JWT signature")]
    Signature,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
}

/// The claims the reference names (ref §2): `iss`, `sub`, `aud`, `nbf`, `exp`, `jti`.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<serde_json::Value>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
}

/// The claims of a JWT without checking its signature, to find which client it claims to be.
pub(crate) fn peek_claims(token: &str) -> Result<Claims, JwtError> {
    let (_, claims, _) = split(token)?;
    let bytes = URL_SAFE_NO_PAD.decode(claims).map_err(|_| JwtError::Decode("claims"))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Decode("claims"))
}

/// Checks the signature with `key`: PS256 is RSASSA-PSS with SHA-256 and a 32-byte salt, RS256
/// is PKCS#1 v1.5 with SHA-256 (ref §2). Returns the algorithm used.
pub(crate) fn verify(token: &str, key: &RsaPublicKey) -> Result<String, JwtError> {
    let (header, _, signature) = split(token)?;
    let header_bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| JwtError::Decode("header"))?;
    let header_json: Header = serde_json::from_slice(&header_bytes).map_err(|_| JwtError::Decode("header"))?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwtError::Decode("signature"))?;
    let signed = &token.as_bytes()[..token.rfind('.').ok_or(JwtError::Shape)?];
    let ok = match header_json.alg.as_str() {
        "PS256" => {
            let verifier = rsa::pss::VerifyingKey::<Sha256>::new(key.clone());
            let sig = rsa::pss::Signature::try_from(signature.as_slice()).map_err(|_| JwtError::Signature)?;
            verifier.verify(signed, &sig).is_ok()
        }
        "RS256" => {
            let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone());
            let sig = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).map_err(|_| JwtError::Signature)?;
            verifier.verify(signed, &sig).is_ok()
        }
        other => return Err(JwtError::Algorithm(other.to_string())),
    };
    if ok { Ok(header_json.alg) } else { Err(JwtError::Signature) }
}

fn split(token: &str) -> Result<(&str, &str, &str), JwtError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) => Ok((h, c, s)),
        _ => Err(JwtError::Shape),
    }
}
