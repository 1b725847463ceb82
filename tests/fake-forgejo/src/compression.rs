//! gzip for answers (forgejo.md §1.5: answers of at least 1 KiB are compressed for clients that
//! send `Accept-Encoding: gzip`).
//!
//! The workspace has no deflate library among its dependencies, so the fake writes valid gzip
//! made of *stored* deflate blocks: every gzip decoder reads it, and a client's handling of
//! `Content-Encoding: gzip` is exercised exactly as with a real server, only without the size
//! saving, which the tests do not need.

use axum::http::{HeaderMap, header};

/// connect-go's `WithCompressMinBytes(1024)` as Forgejo configures it.
pub(crate) const MIN_BYTES: usize = 1024;

/// The largest payload of one stored deflate block.
const MAX_STORED_BLOCK: usize = 0xffff;

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

/// A gzip member (RFC 1952) holding `data` in stored deflate blocks (RFC 1951 §3.2.4).
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    // Magic, method deflate, no flags, no mtime, no extra flags, OS unknown.
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(MAX_STORED_BLOCK).peekable();
    if chunks.peek().is_none() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        // BFINAL in bit 0, BTYPE 00 (stored); the length and its complement follow, byte aligned.
        out.push(u8::from(last));
        let length = chunk.len() as u16;
        out.extend(length.to_le_bytes());
        out.extend((!length).to_le_bytes());
        out.extend(chunk);
    }
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE, reflected), as gzip's trailer needs.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}
