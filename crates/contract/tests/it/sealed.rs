use contract::{BusKey, KeyError, SealError};
use ulid::Ulid;

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[test]
fn bus_key_must_be_standard_base64_of_32_bytes() {
    assert!(BusKey::from_base64(KEY_B64).is_ok());
    assert_eq!(BusKey::from_base64("not base64!").unwrap_err(), KeyError::NotBase64);
    // 16 bytes: valid base64, wrong length
    assert_eq!(BusKey::from_base64("AAECAwQFBgcICQoLDA0ODw==").unwrap_err(), KeyError::WrongLength(16));
    // URL-safe alphabet is not standard base64
    assert_eq!(BusKey::from_base64("-_8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err(), KeyError::NotBase64);
}

#[test]
fn sealed_secret_opens_in_its_job_only() {
    let key = BusKey::from_base64(KEY_B64).unwrap();
    let job = Ulid::new();
    let sealed = key.seal(job, "hunter2\nsecond line").unwrap();
    assert!(!sealed.ciphertext.contains("hunter2"));
    assert_eq!(key.open(job, &sealed).unwrap().expose(), "hunter2\nsecond line");

    let other_job = Ulid::new();
    assert_eq!(key.open(other_job, &sealed).unwrap_err(), SealError::Forged);
}

#[test]
fn two_seals_of_one_secret_differ() {
    let key = BusKey::generate().unwrap();
    let job = Ulid::new();
    let a = key.seal(job, "same").unwrap();
    let b = key.seal(job, "same").unwrap();
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn another_key_is_named_not_tried() {
    let key = BusKey::from_base64(KEY_B64).unwrap();
    let other = BusKey::generate().unwrap();
    let job = Ulid::new();
    let sealed = other.seal(job, "x").unwrap();
    match key.open(job, &sealed) {
        Err(SealError::WrongKey { expected, found }) => {
            assert_eq!(expected, key.id());
            assert_eq!(found, other.id());
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
}

#[test]
fn tampered_ciphertext_is_rejected() {
    let key = BusKey::from_base64(KEY_B64).unwrap();
    let job = Ulid::new();
    let mut sealed = key.seal(job, "value").unwrap();
    let mut bytes = base64_decode(&sealed.ciphertext);
    bytes[0] ^= 1;
    sealed.ciphertext = base64_encode(&bytes);
    assert_eq!(key.open(job, &sealed).unwrap_err(), SealError::Forged);
    sealed.nonce = "short".into();
    assert_eq!(key.open(job, &sealed).unwrap_err(), SealError::Malformed);
}

#[test]
fn secrets_never_debug_print() {
    let key = BusKey::from_base64(KEY_B64).unwrap();
    let printed = format!("{key:?}");
    assert!(!printed.contains(KEY_B64), "{printed}");
    let secret = key.open(Ulid::nil(), &key.seal(Ulid::nil(), "hunter2").unwrap()).unwrap();
    assert_eq!(format!("{secret:?}"), "SecretString(***)");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
