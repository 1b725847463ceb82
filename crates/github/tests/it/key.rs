//! Tests of github::key: the runner's key in `.credentials_rsaparams` (ref §1.5), its public
//! forms (ref §1.2) and JWT signatures (ref §2).

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use github::key::{JwtAlgorithm, KeyError, RunnerKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;

/// One generated key per test binary: generating is slow without optimisations, and no test
/// needs a fresh one.
pub fn shared_key() -> &'static RunnerKey {
    static KEY: OnceLock<RunnerKey> = OnceLock::new();
    KEY.get_or_init(|| RunnerKey::generate().unwrap())
}

fn params(key: &RunnerKey) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(&key.to_rsa_params()).unwrap()
}

fn decoded_len(params: &serde_json::Map<String, serde_json::Value>, name: &str) -> usize {
    STANDARD.decode(params[name].as_str().unwrap()).unwrap().len()
}

#[test]
fn rsaparams_are_padded_as_dotnet_exports_them_and_read_back_to_the_same_key() {
    let key = shared_key();
    let params = params(key);
    let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["d", "dp", "dq", "exponent", "inverseQ", "modulus", "p", "q"]);
    assert_eq!(params["exponent"], "AQAB");
    for (name, len) in
        [("modulus", 256), ("d", 256), ("p", 128), ("q", 128), ("dp", 128), ("dq", 128), ("inverseQ", 128)]
    {
        assert_eq!(decoded_len(&params, name), len, "{name}");
    }
    let again = RunnerKey::from_rsa_params(key.to_rsa_params().as_bytes()).unwrap();
    assert_eq!(again.xml_public_key(), key.xml_public_key());
    assert_eq!(again.to_rsa_params(), key.to_rsa_params());
}

#[test]
fn rsaparams_are_read_whatever_the_case_of_their_keys() {
    let key = shared_key();
    let pascal: serde_json::Map<String, serde_json::Value> = params(key)
        .into_iter()
        .map(|(name, value)| {
            let mut chars = name.chars();
            let first = chars.next().unwrap().to_ascii_uppercase();
            (format!("{first}{}", chars.as_str()), value)
        })
        .collect();
    let text = serde_json::Value::Object(pascal).to_string();
    assert!(text.contains("\"InverseQ\""), "{text}");
    let again = RunnerKey::from_rsa_params(text.as_bytes()).unwrap();
    assert_eq!(again.exponent_modulus(), key.exponent_modulus());
}

#[test]
fn broken_rsaparams_are_refused_with_the_reason() {
    let key = shared_key();
    let mut missing = params(key);
    missing.remove("d");
    let error = RunnerKey::from_rsa_params(serde_json::Value::Object(missing).to_string().as_bytes()).unwrap_err();
    assert!(matches!(error, KeyError::Missing("d")), "{error:?}");

    // p and q of another key: the parts no longer make one key.
    let other = RunnerKey::generate().unwrap();
    let mut mixed = params(key);
    let other_params = params(&other);
    mixed.insert("p".into(), other_params["p"].clone());
    mixed.insert("q".into(), other_params["q"].clone());
    let error = RunnerKey::from_rsa_params(serde_json::Value::Object(mixed).to_string().as_bytes()).unwrap_err();
    assert!(matches!(error, KeyError::Invalid(_)), "{error:?}");

    let error = RunnerKey::from_rsa_params(b"not json").unwrap_err();
    assert_eq!(error.to_string(), "parse .credentials_rsaparams as JSON");
}

#[test]
fn public_key_forms_carry_the_same_modulus_and_exponent() {
    let key = shared_key();
    let pair = key.exponent_modulus();
    assert_eq!(pair.exponent, "AQAB");
    assert_eq!(STANDARD.decode(&pair.modulus).unwrap().len(), 256, "no leading zero byte, 2048 bits");
    assert_eq!(
        key.xml_public_key(),
        format!("<RSAKeyValue><Modulus>{}</Modulus><Exponent>AQAB</Exponent></RSAKeyValue>", pair.modulus)
    );
    let json = serde_json::to_value(&pair).unwrap();
    assert_eq!(json, serde_json::json!({"exponent": "AQAB", "modulus": pair.modulus}));
}

#[test]
fn jwts_are_signed_with_the_algorithm_asked_for() {
    let key = shared_key();
    let claims = serde_json::json!({"iss": "me", "sub": "me"});
    for algorithm in [JwtAlgorithm::Ps256, JwtAlgorithm::Rs256] {
        let jwt = key.sign_jwt(algorithm, &claims).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"typ": "JWT", "alg": algorithm.name()}));
        let body: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body, claims);
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let verified = match algorithm {
            JwtAlgorithm::Ps256 => rsa::pss::VerifyingKey::<Sha256>::new(key.public_key())
                .verify(signed.as_bytes(), &rsa::pss::Signature::try_from(signature.as_slice()).unwrap()),
            JwtAlgorithm::Rs256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.public_key())
                .verify(signed.as_bytes(), &rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap()),
        };
        assert!(verified.is_ok(), "{algorithm:?}");
    }
}

#[test]
fn debug_never_shows_the_private_key() {
    let key = shared_key();
    let shown = format!("{key:?}");
    assert_eq!(shown, "RunnerKey { bits: 2048, .. }");
}
