//! A TCP proxy in the test that forwards every connection to a target until it is cut: the
//! way to take a broker or a database away from the code under test without touching the
//! shared server, and to let a process in a network namespace of the test reach a server in
//! the host's (the listener may be bound in the namespace, the proxy's own connections to the
//! target are made from the test's).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

struct Shared {
    target: SocketAddr,
    up: AtomicBool,
    /// Bumped by every cut; each forwarded connection ends when it changes.
    cuts: watch::Sender<u64>,
    refused: AtomicUsize,
    refusal: Notify,
}

impl Proxy {
    /// A proxy on a fresh port of 127.0.0.1 in the test's own namespace.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        Proxy::serve(listener, target)
    }

    /// A proxy serving `listener` (bound wherever the caller chose, e.g. with
    /// [`crate::netns::TestNetns::bind`]) on the current runtime.
    pub fn serve(listener: std::net::TcpListener, target: SocketAddr) -> Proxy {
        listener.set_nonblocking(true).expect("make the proxy's listener non-blocking");
        let addr = listener.local_addr().expect("the proxy's address");
        let listener = TcpListener::from_std(listener).expect("register the proxy's listener");
        let shared = Arc::new(Shared {
            target,
            up: AtomicBool::new(true),
            cuts: watch::channel(0).0,
            refused: AtomicUsize::new(0),
            refusal: Notify::new(),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Proxy { addr, shared, accept }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes every connection and turns new ones away (accepted, then closed at once) until
    /// [`Proxy::restore`].
    pub fn cut(&self) {
        self.shared.up.store(false, Ordering::SeqCst);
        self.shared.cuts.send_modify(|cuts| *cuts += 1);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.shared.up.store(true, Ordering::SeqCst);
    }

    /// Waits until a client tried to connect while the proxy was cut (it is retrying).
    pub async fn refused_one(&self) {
        let seen = self.shared.refused.load(Ordering::SeqCst);
        loop {
            let refusal = self.shared.refusal.notified();
            tokio::pin!(refusal);
            // Registered before the count is read again, so a refusal in between is not lost.
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

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        if !shared.up.load(Ordering::SeqCst) {
            drop(client);
            shared.refused.fetch_add(1, Ordering::SeqCst);
            shared.refusal.notify_waiters();
            continue;
        }
        tokio::spawn(forward(client, shared.target, shared.cuts.subscribe()));
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut cuts: watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cuts.changed() => {}
    }
}
