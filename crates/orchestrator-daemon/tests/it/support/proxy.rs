//! A TCP proxy in the test: forwards every connection to a target until it is cut. It lets the
//! daemon reach RabbitMQ and PostgreSQL from inside a network namespace of the test (the
//! listener belongs to the namespace, the connections to the target are made from the test's
//! own), and lets a test take the database away from a running daemon.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl Proxy {
    /// Serves `listener` (bound wherever the caller chose) on the current runtime.
    pub fn start(listener: std::net::TcpListener, target: SocketAddr) -> Proxy {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let (cut, _) = watch::channel(false);
        let mut accept_cut = cut.subscribe();
        let connection_cut = cut.clone();
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => return,
                    },
                    _ = accept_cut.wait_for(|cut| *cut) => return,
                };
                tokio::spawn(forward(client, target, connection_cut.subscribe()));
            }
        });
        Proxy { addr, cut }
    }

    /// Closes every connection and the listener: from now on connecting is refused.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    if *cut.borrow() {
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
