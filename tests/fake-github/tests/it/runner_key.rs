//! The runner's side of the key (ref §1.2, §2), played by the tests.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::RsaPrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;

/// One RSA-2048 key per test binary and one more for "a different key": generating them is
/// slow without optimisations, and no test depends on a key being fresh per test.
pub fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(generate)
}

pub fn other_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(generate)
}

fn generate() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("generate an RSA-2048 key")
}

/// The .NET XML form of the public key (ref §1.2, runner-admin flow).
pub fn xml(key: &RsaPrivateKey) -> String {
    format!(
        "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent></RSAKeyValue>",
        STANDARD.encode(key.n().to_bytes_be()),
        STANDARD.encode(key.e().to_bytes_be())
    )
}

/// The legacy `{exponent, modulus}` form (ref §1.2).
pub fn legacy(key: &RsaPrivateKey) -> serde_json::Value {
    serde_json::json!({
        "exponent": STANDARD.encode(key.e().to_bytes_be()),
        "modulus": STANDARD.encode(key.n().to_bytes_be()),
    })
}

#[derive(Clone, Copy, Debug)]
pub enum Alg {
    Ps256,
    Rs256,
}

/// A JWT client assertion as the runner builds it (ref §2).
pub fn jwt(key: &RsaPrivateKey, alg: Alg, claims: &serde_json::Value) -> String {
    let name = match alg {
        Alg::Ps256 => "PS256",
        Alg::Rs256 => "RS256",
    };
    let header = serde_json::json!({"typ": "JWT", "alg": name});
    let signed =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = match alg {
        Alg::Ps256 => rsa::pss::BlindedSigningKey::<Sha256>::new(key.clone())
            .sign_with_rng(&mut rsa::rand_core::OsRng, signed.as_bytes())
            .to_vec(),
        Alg::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone()).sign(signed.as_bytes()).to_vec(),
    };
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The claims the official runner sends: iss = sub = client id, aud = token URL, 5 minutes.
pub fn claims(client_id: &str, aud: &str) -> serde_json::Value {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs() as i64;
    serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": aud,
        "nbf": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
    })
}
