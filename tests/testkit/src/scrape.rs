//! Reading a daemon's `/metrics` and `/healthz` the way a scraper does: plain HTTP/1.1 GETs on
//! loopback, no client library.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An address on 127.0.0.1 nothing listens on (its port was free a moment ago).
pub fn free_local_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").to_string()
}

/// The body of `GET http://{addr}{path}`, which must answer 200.
pub async fn get(addr: &str, path: &str) -> String {
    let mut stream =
        tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|error| panic!("connect {addr}: {error}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path} on {addr}: {head}");
    body.to_owned()
}

/// Scrapes `/metrics` on `addr` until it holds `needle` (10 s at most): for a count that
/// follows an event the test saw from outside, such as the forge's answer to the last report.
pub async fn scrape_until(addr: &str, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = get(addr, "/metrics").await;
        if text.contains(needle) || tokio::time::Instant::now() > deadline {
            assert!(text.contains(needle), "{needle:?} never showed in /metrics on {addr}:\n{text}");
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
