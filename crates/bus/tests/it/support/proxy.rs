//! A TCP proxy in front of the broker that a test can cut (every connection dropped, new ones
//! refused) and restore: connection loss without touching the shared broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

struct Shared {
    up: AtomicBool,
    connections: std::sync::Mutex<Vec<AbortHandle>>,
    refused: AtomicUsize,
    refusal: Notify,
}

impl Proxy {
    pub async fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let shared = Arc::new(Shared {
            up: AtomicBool::new(true),
            connections: std::sync::Mutex::new(Vec::new()),
            refused: AtomicUsize::new(0),
            refusal: Notify::new(),
        });
        let accept = tokio::spawn(accept_loop(listener, upstream_port, shared.clone()));
        Proxy { port, shared, accept }
    }

    /// Drops every connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.shared.up.store(false, Ordering::SeqCst);
        for connection in self.shared.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn restore(&self) {
        self.shared.up.store(true, Ordering::SeqCst);
    }

    /// Waits until a client tried to connect while the proxy was cut (it is retrying).
    pub async fn refused_one(&self) {
        let seen = self.shared.refused.load(Ordering::SeqCst);
        loop {
            let refusal = self.shared.refusal.notified();
            tokio::pin!(refusal);
            refusal.as_mut().enable();
            if self.shared.refused.load(Ordering::SeqCst) > seen {
                return;
            }
            refusal.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn accept_loop(listener: TcpListener, upstream_port: u16, shared: Arc<Shared>) {
    while let Ok((mut client, _)) = listener.accept().await {
        if !shared.up.load(Ordering::SeqCst) {
            drop(client);
            shared.refused.fetch_add(1, Ordering::SeqCst);
            shared.refusal.notify_waiters();
            continue;
        }
        let forward = tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else { return };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
        shared.connections.lock().unwrap().push(forward.abort_handle());
    }
}
