//! Finding one file's hash in a publisher's checksum file. The formats met: GNU coreutils
//! (`HASH  name` or `HASH *name`, Debian's SHA512SUMS), BSD (`SHA256 (name) = HASH`, FreeBSD's
//! CHECKSUM.SHA256) and a file holding only the bare hash (OmniOS's `<file>.sha256`).

use vm::ChecksumAlgorithm;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChecksumError {
    #[error("the checksum file has no line for it")]
    NotListed,
    #[error("the checksum file lists it with {found}, which is not a {algorithm} in hex")]
    Malformed { found: String, algorithm: &'static str },
}

/// The lowercase hex hash of `file` in `text`.
pub(crate) fn find(text: &str, file: &str, algorithm: ChecksumAlgorithm) -> Result<String, ChecksumError> {
    let digits = match algorithm {
        ChecksumAlgorithm::Sha256 => 64,
        ChecksumAlgorithm::Sha512 => 128,
    };
    let check = |hash: &str| {
        if hash.len() == digits && hash.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(hash.to_ascii_lowercase())
        } else {
            Err(ChecksumError::Malformed { found: hash.to_owned(), algorithm: algorithm.as_str() })
        }
    };
    let names = |name: &str| name == file || name.rsplit('/').next() == Some(file);
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if let [only] = tokens.as_slice() {
        return check(only);
    }
    for line in text.lines().map(str::trim) {
        // BSD: `SHA256 (name) = hash`.
        if let Some((head, hash)) = line.rsplit_once(") = ")
            && let Some((_, name)) = head.split_once(" (")
            && names(name)
        {
            return check(hash.trim());
        }
        // GNU: `hash  name`, `hash *name` (binary mode).
        if let Some((hash, name)) = line.split_once(char::is_whitespace) {
            let name = name.trim_start();
            if names(name.strip_prefix('*').unwrap_or(name)) {
                return check(hash);
            }
        }
    }
    Err(ChecksumError::NotListed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "5f0e86f1f95b97df8fce63d6acfbf38f49fa4fe41b9e5ed9c7313f10fc180b3c";

    fn check(text: &str, file: &str, expected: Result<&str, ChecksumError>) {
        assert_eq!(find(text, file, ChecksumAlgorithm::Sha256), expected.map(str::to_owned), "{text:?}");
    }

    #[test]
    fn finds_the_file_in_every_format_met() {
        check(&format!("{A}\n"), "x.raw.zst", Ok(A));
        check(&format!("{}  other.qcow2\n{A}  x.qcow2\n", "0".repeat(64)), "x.qcow2", Ok(A));
        check(&format!("{A} *x.qcow2\n"), "x.qcow2", Ok(A));
        check(&format!("{A}  ./sub/x.qcow2\n"), "x.qcow2", Ok(A));
        check(&format!("SHA256 (y.xz) = {}\nSHA256 (x.xz) = {A}\n", "1".repeat(64)), "x.xz", Ok(A));
        check(&A.to_ascii_uppercase(), "x", Ok(A));
    }

    #[test]
    fn says_when_the_file_is_missing_or_the_hash_is_not_one() {
        check(&format!("{A}  other\n{A}  more\n"), "x", Err(ChecksumError::NotListed));
        check("", "x", Err(ChecksumError::NotListed));
        let short = ChecksumError::Malformed { found: "abc".into(), algorithm: "sha256" };
        check("abc", "x", Err(short));
        let sha512 = find(&format!("{A}  x\n"), "x", ChecksumAlgorithm::Sha512);
        assert!(matches!(sha512, Err(ChecksumError::Malformed { .. })), "a sha256 is not a sha512");
    }
}
