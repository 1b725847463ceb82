//! gzip for answers (forgejo.md §1.5: answers of at least 1 KiB are compressed for clients that
//! send `Accept-Encoding: gzip`).
//! Requests with `Content-Encoding: gzip` are read too, as connect-go does by default.

use std::io::{Read, Write};

use axum::http::{HeaderMap, header};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// connect-go's `WithCompressMinBytes(1024)` as Forgejo configures it.
pub(crate) const MIN_BYTES: usize = 1024;

/// Whether `Accept-Encoding` lists gzip with a non-zero weight.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|parameter| {
                parameter
                    .strip_prefix("q=")
                    .and_then(|weight| weight.parse::<f32>().ok())
                    .is_some_and(|weight| weight == 0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// `data` as one gzip member (RFC 1952).
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 32), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// The bytes of a gzip'ed request body; corrupt or truncated data is an error.
pub(crate) fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut plain = Vec::new();
    GzDecoder::new(data).read_to_end(&mut plain)?;
    Ok(plain)
}
