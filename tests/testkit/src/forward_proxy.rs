//! An HTTP forward proxy for tests: absolute-form requests (`GET http://host/...`) and `CONNECT`
//! tunnels, each connection's first request line recorded, so a test can assert that a client
//! went through the proxy a user configured. It only forwards to loopback addresses: anything
//! else is answered 403 and never dialled.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub struct ForwardProxy {
    pub addr: SocketAddr,
    seen: Arc<Seen>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct Seen {
    lines: Mutex<Vec<String>>,
    more: Notify,
}

impl ForwardProxy {
    pub async fn start() -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the forward proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(forward(stream, shared.clone()));
            }
        });
        ForwardProxy { addr, seen, accept }
    }

    /// `http://127.0.0.1:PORT`, for `HTTP_PROXY` / `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The first request line of every connection so far (`CONNECT 127.0.0.1:4000 HTTP/1.1`,
    /// `POST http://127.0.0.1:4000/api/... HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.seen.lines.lock().map(|lines| lines.clone()).unwrap_or_default()
    }

    /// Waits until a recorded line contains `needle`.
    pub async fn wait_for(&self, needle: &str) -> String {
        loop {
            let more = self.seen.more.notified();
            if let Some(line) = self.requests().into_iter().find(|line| line.contains(needle)) {
                return line;
            }
            more.await;
        }
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(mut client: TcpStream, seen: Arc<Seen>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the end of the head, so nothing of the body is read ahead.
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    if let Ok(mut lines) = seen.lines.lock() {
        lines.push(line.clone());
    }
    seen.more.notify_waiters();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let authority = if method == "CONNECT" {
        target.to_owned()
    } else {
        let rest = target.strip_prefix("http://").unwrap_or_default();
        rest.split('/').next().unwrap_or_default().to_owned()
    };
    let Some(address) = loopback(&authority) else {
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(address).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        return;
    };
    if method == "CONNECT" {
        if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
            return;
        }
    } else if upstream.write_all(&head).await.is_err() {
        // The absolute-form head goes as it came: the fakes' servers take absolute-form targets.
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// `127.0.0.1:PORT` or `localhost:PORT` as an address; anything else is `None`.
fn loopback(authority: &str) -> Option<SocketAddr> {
    let authority = authority.replace("localhost:", "127.0.0.1:");
    let address: SocketAddr = authority.parse().ok()?;
    address.ip().is_loopback().then_some(address)
}
