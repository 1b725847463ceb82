//! A routed guest resolves names through the relay on the host side of its veth, and that relay's
//! port is its only way to the host.
//!
//! The test's namespace plays the host: its resolvers are those of this machine's
//! `/etc/resolv.conf` (the relay reads that file), so the test makes each IPv4 one an address of
//! its namespace and answers there itself, `example.test` being 203.0.113.77. Nothing leaves this
//! machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use contract::JobResult;
use tokio::net::{TcpListener, UdpSocket};
use vm::{NetworkMode, Uplink};

use crate::{LABEL, Setup, collect, finished, in_test_netns, request, start, step_log};

const ANSWER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 77);

#[test]
fn a_routed_guest_resolves_through_the_relay_and_reaches_the_host_nowhere_else() {
    in_test_netns(|| async {
        assert!(vm::Tools::from_path().nft.is_file(), "Uplink::Routed needs `nft`: apt-get install nftables");
        let resolvers = resolvers();
        assert!(!resolvers.is_empty(), "/etc/resolv.conf names an IPv4 resolver");
        let mut script = String::from("link set lo up\n");
        for address in resolvers.iter().filter(|a| !a.is_loopback()) {
            script.push_str(&format!("addr add {address}/32 dev lo\n"));
        }
        ip_batch(&script);
        let queries = Arc::new(Mutex::new(Vec::new()));
        let direct = Arc::new(Mutex::new(Vec::new()));
        for address in &resolvers {
            let udp = UdpSocket::bind((*address, 53)).await.unwrap();
            tokio::spawn(answer(udp, queries.clone()));
            // A resolver's TCP port, which the guest must not reach directly.
            let tcp = TcpListener::bind((*address, 53)).await.unwrap();
            let seen = direct.clone();
            tokio::spawn(async move {
                while let Ok((_, peer)) = tcp.accept().await {
                    seen.lock().unwrap().push(peer);
                }
            });
        }

        let mut setup = Setup::new();
        setup.config.network = NetworkMode::PerVm(Uplink::Routed);
        let executor = setup.executor();
        let resolver = resolvers[0];
        let script = format!(
            "probe() {{ if out=$(sleep 2 | timeout 15 nc \"$1\" \"$2\" 2>&1); then echo \"$1:$2 reached\"; \
             else echo \"$1:$2 blocked\"; fi; }}\n\
             gateway=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')\n\
             echo \"gateway $gateway\"\n\
             sed 's/^/conf /' /etc/resolv.conf\n\
             nslookup example.test | sed 's/^/lookup /'\n\
             probe {resolver} 53 &\n\
             probe $gateway 53 &\n\
             probe $gateway 54 &\n\
             wait\n"
        );
        let request = request(LABEL, &[&script]);
        let mut handle = start(&executor, request.clone()).await;
        let outputs = collect(&mut handle).await;
        assert_eq!(finished(&outputs), (JobResult::Success, None), "{outputs:#?}");
        let log = step_log(&outputs, 0);
        eprintln!("guest: {log:#?}");

        let gateway = log.iter().find_map(|l| l.strip_prefix("gateway ")).expect("the guest has a default route");
        assert!(log.contains(&format!("conf nameserver {gateway}")), "the guest's resolver is the relay: {log:#?}");
        assert!(
            log.iter().any(|l| l.starts_with("lookup ") && l.contains(&ANSWER.to_string())),
            "example.test resolves to {ANSWER}: {log:#?}"
        );
        assert!(log.contains(&format!("{gateway}:53 reached")), "the relay takes DNS over TCP: {log:#?}");
        assert!(log.contains(&format!("{gateway}:54 blocked")), "nothing else of the gateway: {log:#?}");
        assert!(log.contains(&format!("{resolver}:53 blocked")), "the resolver itself is out of reach: {log:#?}");
        assert_eq!(*direct.lock().unwrap(), Vec::<SocketAddr>::new(), "no connection reached the resolver directly");
        let queries = queries.lock().unwrap().clone();
        assert!(!queries.is_empty(), "the resolver was asked");
        let gateway: Ipv4Addr = gateway.parse().unwrap();
        let guest = Ipv4Addr::from(u32::from(gateway) + 1);
        assert!(
            queries.iter().all(|q| q.ip() != IpAddr::V4(guest)),
            "every query came from the relay, none from the guest ({guest}): {queries:?}"
        );

        setup.assert_nothing_left(&request, None).await;
    });
}

/// The IPv4 resolvers of this machine's `/etc/resolv.conf`.
fn resolvers() -> Vec<Ipv4Addr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse().ok())
        .collect()
}

/// A tiny authoritative server: `example.test` A is [`ANSWER`], any other A or AAAA question
/// gets an empty answer (and other names NXDOMAIN); remembers who asked.
async fn answer(socket: UdpSocket, seen: Arc<Mutex<Vec<SocketAddr>>>) {
    let mut buffer = [0u8; 1500];
    while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
        seen.lock().unwrap().push(peer);
        if let Some(reply) = reply(&buffer[..length]) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// The reply to one query, `None` if it is not one question.
fn reply(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[4..6] != [0, 1] {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let length = usize::from(*query.get(at)?);
        at += 1;
        if length == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + length)?).to_ascii_lowercase());
        at += length;
    }
    let question_end = at + 4;
    let qtype = query.get(at..at + 2)?;
    let ours = labels == ["example", "test"];
    let a = ours && qtype == [0, 1];
    let mut reply = query[..2].to_vec();
    // QR, RD copied as set, RA; NXDOMAIN for any other name.
    reply.extend_from_slice(&[0x81, if ours { 0x80 } else { 0x83 }]);
    reply.extend_from_slice(&[0, 1, 0, u8::from(a), 0, 0, 0, 0]);
    reply.extend_from_slice(query.get(12..question_end)?);
    if a {
        // A pointer to the question's name, A, IN, a TTL of 60 s, four bytes of address.
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&ANSWER.octets());
    }
    Some(reply)
}

/// Runs `ip -batch` in the calling thread's namespace.
fn ip_batch(script: &str) {
    let mut ip =
        std::process::Command::new("ip").args(["-batch", "-"]).stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut ip.stdin.take().unwrap(), script.as_bytes()).unwrap();
    assert!(ip.wait().unwrap().success(), "ip -batch failed on:\n{script}");
}
