//! The DNS relay of a routed VM: the guest may reach nothing of the host, yet the host's resolvers
//! are typically on its loopback (127.0.0.53) or a private network. So a relay listens on the host
//! side of the VM's veth, port 53 (UDP and TCP), the one address and port the VM's rules let
//! through, and passes each query on to the resolvers of the executor's `/etc/resolv.conf` from
//! the host side, where they are reachable. It only relays: it never parses more of a message than
//! its length and id, so a bad packet is at worst a query the resolver rejects.
//!
//! Bounds: queries over [`MAX_QUERY`] bytes are dropped, at most [`MAX_IN_FLIGHT`] are relayed at
//! once per VM (more are dropped, and the guest's resolver retries), each resolver gets
//! [`UPSTREAM_TIMEOUT`] and a TCP connection [`TCP_IDLE`] between queries.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The largest query relayed (EDNS's usual buffer size; real queries are far smaller).
pub(crate) const MAX_QUERY: usize = 4096;
/// How many queries of one VM are relayed at once.
const MAX_IN_FLIGHT: usize = 64;
/// How long one resolver may take to answer before the next one is asked.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a guest's TCP connection may stay silent.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The port DNS listens on.
pub(crate) const PORT: u16 = 53;

/// A running relay; dropping it stops it.
#[derive(Debug)]
pub(crate) struct DnsRelay {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsRelay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DnsRelay {
    /// Listens on `listen`:53 (UDP and TCP) in the calling thread's namespace and relays to
    /// `upstreams` in order.
    pub(crate) async fn start(listen: Ipv4Addr, upstreams: Vec<SocketAddr>) -> std::io::Result<DnsRelay> {
        let udp = UdpSocket::bind((listen, PORT)).await?;
        let tcp = TcpListener::bind((listen, PORT)).await?;
        let upstreams: Arc<[SocketAddr]> = upstreams.into();
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let tasks = vec![
            tokio::spawn(serve_udp(Arc::new(udp), upstreams.clone(), slots.clone())),
            tokio::spawn(serve_tcp(tcp, upstreams, slots)),
        ];
        Ok(DnsRelay { tasks })
    }
}

/// The resolvers named by the `resolv.conf` at `path`, port 53; like the C library, 127.0.0.1
/// when it names none or cannot be read.
pub(crate) fn resolvers(path: &Path) -> Vec<SocketAddr> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the resolver configuration; guests' DNS goes to 127.0.0.1");
            String::new()
        }
    };
    let found = parse_resolv_conf(&text);
    if found.is_empty() { vec![SocketAddr::from((Ipv4Addr::LOCALHOST, PORT))] } else { found }
}

/// The `nameserver` lines of a `resolv.conf`, as socket addresses on port 53.
pub(crate) fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // An IPv6 address may carry a zone ("fe80::1%eth0"), which a socket address cannot.
            let address: std::net::IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(address, PORT))
        })
        .collect()
}

async fn serve_udp(socket: Arc<UdpSocket>, upstreams: Arc<[SocketAddr]>, slots: Arc<Semaphore>) {
    // One byte more than the bound, so an oversized datagram shows as such instead of truncated.
    let mut buffer = vec![0u8; MAX_QUERY + 1];
    loop {
        let (length, client) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors from an earlier reply surface here; the socket itself is fine.
                tracing::debug!(%error, "dns relay: receiving a query failed");
                continue;
            }
        };
        if !(12..=MAX_QUERY).contains(&length) {
            tracing::debug!(%client, length, "dns relay: dropped a datagram that is no query of a sane size");
            continue;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%client, "dns relay: too many queries in flight, dropped one");
            continue;
        };
        let query = buffer[..length].to_vec();
        let (socket, upstreams) = (socket.clone(), upstreams.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match ask_udp(&query, &upstreams).await {
                Some(answer) => {
                    if let Err(error) = socket.send_to(&answer, client).await {
                        tracing::debug!(%client, %error, "dns relay: sending an answer failed");
                    }
                }
                None => tracing::warn!(%client, "dns relay: no resolver answered a query"),
            }
        });
    }
}

/// The first answer to `query` from `upstreams`, asked one after the other.
async fn ask_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; 65535];
    for upstream in upstreams {
        let local: SocketAddr = match upstream {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let attempt = async {
            let socket = UdpSocket::bind(local).await?;
            // A connected socket takes datagrams from the resolver only.
            socket.connect(upstream).await?;
            socket.send(query).await?;
            loop {
                let length = socket.recv(&mut buffer).await?;
                // The same id, or it answers something else (a late reply to nobody).
                if length >= 2 && buffer[..2] == query[..2] {
                    return Ok::<_, std::io::Error>(buffer[..length].to_vec());
                }
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(error)) => tracing::debug!(%upstream, %error, "dns relay: resolver failed"),
            Err(_) => tracing::debug!(%upstream, "dns relay: resolver did not answer in time"),
        }
    }
    None
}

async fn serve_tcp(listener: TcpListener, upstreams: Arc<[SocketAddr]>, slots: Arc<Semaphore>) {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "dns relay: accepting a connection failed");
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%client, "dns relay: too many queries in flight, refused a connection");
            continue;
        };
        let upstreams = upstreams.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = relay_tcp(stream, &upstreams).await {
                tracing::debug!(%client, %error, "dns relay: a TCP connection ended");
            }
        });
    }
}

/// Relays length-prefixed queries of one guest connection until it closes or idles.
async fn relay_tcp(mut stream: TcpStream, upstreams: &[SocketAddr]) -> std::io::Result<()> {
    loop {
        let Ok(query) = tokio::time::timeout(TCP_IDLE, read_message(&mut stream, MAX_QUERY)).await else {
            return Ok(());
        };
        let Some(query) = query? else { return Ok(()) };
        let Some(answer) = ask_tcp(&query, upstreams).await else {
            tracing::warn!("dns relay: no resolver answered a query over TCP");
            return Ok(());
        };
        let length = u16::try_from(answer.len()).map_err(std::io::Error::other)?;
        stream.write_all(&length.to_be_bytes()).await?;
        stream.write_all(&answer).await?;
    }
}

async fn ask_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for upstream in upstreams {
        let attempt = async {
            let mut connection = TcpStream::connect(upstream).await?;
            let length = u16::try_from(query.len()).map_err(std::io::Error::other)?;
            connection.write_all(&length.to_be_bytes()).await?;
            connection.write_all(query).await?;
            read_message(&mut connection, usize::from(u16::MAX))
                .await?
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(error)) => tracing::debug!(%upstream, %error, "dns relay: resolver failed over TCP"),
            Err(_) => tracing::debug!(%upstream, "dns relay: resolver did not answer in time over TCP"),
        }
    }
    None
}

/// One length-prefixed DNS message; `None` at a clean end of the stream.
async fn read_message(stream: &mut TcpStream, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut prefix = [0u8; 2];
    match stream.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = usize::from(u16::from_be_bytes(prefix));
    if !(12..=limit).contains(&length) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a {length}-byte message")));
    }
    let mut message = vec![0u8; length];
    stream.read_exact(&mut message).await?;
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_are_read_from_resolv_conf() {
        let text = "# generated\nsearch example\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver bogus\noptions edns0\n";
        let expected: Vec<SocketAddr> = vec!["127.0.0.53:53".parse().unwrap(), "[fe80::1]:53".parse().unwrap()];
        assert_eq!(parse_resolv_conf(text), expected);
    }

    /// A query of `length` bytes with id `id`.
    fn query(id: u16, length: usize) -> Vec<u8> {
        let mut query = vec![0u8; length];
        query[..2].copy_from_slice(&id.to_be_bytes());
        query
    }

    /// A resolver on 127.0.0.1 that answers each query over UDP, first with a stray datagram of
    /// another id, then with the query's own id and "answer"; returns its address and the number
    /// of queries it got.
    async fn resolver() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let address = socket.local_addr().unwrap();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 65535];
            while let Ok((_, peer)) = socket.recv_from(&mut buffer).await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let id = [buffer[0], buffer[1]];
                let _ = socket.send_to(&[id[0] ^ 0xff, id[1], b'x'], peer).await;
                let mut answer = id.to_vec();
                answer.extend_from_slice(b"answer");
                let _ = socket.send_to(&answer, peer).await;
            }
        });
        (address, count)
    }

    #[tokio::test]
    async fn udp_queries_are_relayed_and_oversized_ones_dropped() {
        let (upstream, asked) = resolver().await;
        let relay = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap());
        let relay_address = relay.local_addr().unwrap();
        let task = tokio::spawn(serve_udp(relay, vec![upstream].into(), Arc::new(Semaphore::new(MAX_IN_FLIGHT))));
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        client.connect(relay_address).await.unwrap();

        client.send(&query(7, MAX_QUERY + 1)).await.unwrap();
        client.send(&query(7, 3)).await.unwrap();
        client.send(&query(9, 40)).await.unwrap();
        let mut buffer = [0u8; 64];
        let length = tokio::time::timeout(Duration::from_secs(10), client.recv(&mut buffer)).await.unwrap().unwrap();
        assert_eq!(&buffer[..length], b"\0\x09answer", "the answer with the query's id, the stray one skipped");
        // The relay reads datagrams in order: the two bad ones were dropped before this one.
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1, "only the sane query went upstream");
        task.abort();
    }

    #[tokio::test]
    async fn tcp_messages_over_the_bound_end_the_connection_unanswered() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        // No resolver at all: a message within the bounds would fail upstream, not here.
        let unused: SocketAddr = (Ipv4Addr::LOCALHOST, 9).into();
        let task = tokio::spawn(serve_tcp(listener, vec![unused].into(), Arc::new(Semaphore::new(MAX_IN_FLIGHT))));
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut said = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut said)).await.unwrap();
        // Closing with the rest of the request unread makes the kernel reset the connection.
        let ended = match &read {
            Ok(_) => true,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(ended && said.is_empty(), "the relay hung up without a byte: {read:?}, {said:?}");
        task.abort();
    }
}
