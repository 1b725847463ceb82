//! The runner's public key in the two shapes clients send it (ref §1.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::{BigUint, RsaPublicKey, traits::PublicKeyParts};

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("find <{0}> in the RSAKeyValue")]
    MissingElement(&'static str),
    #[error("decode the base64 of {0}")]
    Base64(&'static str, #[source] base64::DecodeError),
    #[error("build an RSA public key")]
    Rsa(#[source] rsa::Error),
    #[error("accept a {0}-bit key, the reference asks for 2048 bits")]
    TooSmall(usize),
}

/// Parses the .NET XML form `<RSAKeyValue><Modulus>…</Modulus><Exponent>…</Exponent></RSAKeyValue>`
/// sent by the runner-admin flow (ref §1.2, §1.3).
pub(crate) fn from_xml(xml: &str) -> Result<RsaPublicKey, KeyError> {
    if !xml.trim_start().starts_with("<RSAKeyValue>") {
        return Err(KeyError::MissingElement("RSAKeyValue"));
    }
    let modulus = element(xml, "Modulus")?;
    let exponent = element(xml, "Exponent")?;
    from_base64(modulus, exponent)
}

/// Parses the legacy `TaskAgentPublicKey` `{exponent, modulus}` pair (ref §1.2).
pub(crate) fn from_base64(modulus: &str, exponent: &str) -> Result<RsaPublicKey, KeyError> {
    let n = STANDARD.decode(modulus.trim()).map_err(|e| KeyError::Base64("Modulus", e))?;
    let e = STANDARD.decode(exponent.trim()).map_err(|e| KeyError::Base64("Exponent", e))?;
    let key = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).map_err(KeyError::Rsa)?;
    // ref §1.2: the runner generates 2048-bit keys; a smaller one is a client bug worth seeing.
    if key.size() * 8 < 2048 {
        return Err(KeyError::TooSmall(key.size() * 8));
    }
    Ok(key)
}

/// The legacy JSON form of a key, echoed back in `authorization.publicKey` (ref §1.4 step 3).
pub(crate) fn to_base64(key: &RsaPublicKey) -> (String, String) {
    (STANDARD.encode(key.n().to_bytes_be()), STANDARD.encode(key.e().to_bytes_be()))
}

fn element<'a>(xml: &'a str, name: &'static str) -> Result<&'a str, KeyError> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open).ok_or(KeyError::MissingElement(name))? + open.len();
    let len = xml[start..].find(&close).ok_or(KeyError::MissingElement(name))?;
    Ok(&xml[start..start + len])
}
