//! `Uplink::Routed`: a guest reaches the WAN and nothing of the host.
//!
//! The "host" is the test's own namespace ([`in_test_netns`]), given more addresses here: the
//! tap's 192.0.2.1, RFC 1918, CGNAT and link-local ones (169.254.169.254 included) on the tap,
//! and 198.51.100.1 on a veth to a third namespace, the "WAN", which the host's default route
//! points to and which holds 203.0.113.10 (TEST-NET-3, public for this test). One listener on
//! every address of the host, one on the WAN address; the job probes each with busybox `nc` (its `wget` crashes in
//! this image).
//! The one opening is the DNS relay on the gateway's port 53 (`dns.rs` shows it resolving): it
//! takes a connection, but relays nothing that is not a DNS message.
//! Nothing leaves this machine: the WAN is a namespace of this test.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use contract::JobResult;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use vm::{NetworkMode, Uplink};

use crate::{LABEL, Setup, collect, finished, in_test_netns, request, start, step_log};

const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

/// What the guest must not reach, each put on the host by this test unless the guest finds it
/// itself (its gateway, the host side of its veth).
const FORBIDDEN: [&str; 10] = [
    "127.0.0.1",
    "192.0.2.1",
    "198.51.100.1",
    "10.99.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "169.254.169.254",
    // Where QEMU's user-mode network would map the host's loopback.
    "10.0.2.2",
    "$gateway",
];

#[test]
fn a_routed_guest_reaches_the_wan_and_nothing_of_the_host() {
    in_test_netns(|| async {
        assert!(vm::Tools::from_path().nft.is_file(), "Uplink::Routed needs `nft`: apt-get install nftables");
        let wan_listener = wan_namespace();
        let host_script = "addr add 10.99.0.1/24 dev testtap0\n\
                           addr add 172.16.0.1/32 dev testtap0\n\
                           addr add 192.168.0.1/32 dev testtap0\n\
                           addr add 100.64.0.1/32 dev testtap0\n\
                           addr add 169.254.169.254/32 dev testtap0\n";
        ip_batch(host_script);
        let host_listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).await.unwrap();
        let host_port = host_listener.local_addr().unwrap().port();
        let wan_port = wan_listener.local_addr().unwrap().port();
        let host_seen = record(host_listener, "host");
        let wan_seen = record(wan_listener, "wan");

        let mut setup = Setup::new();
        setup.config.network = NetworkMode::PerVm(Uplink::Routed);
        let executor = setup.executor();
        let mut script = String::from(
            "probe() { if out=$(sleep 2 | timeout 15 nc \"$1\" \"$2\" 2>&1); then echo \"$1 reached: $out\"; \
             else echo \"$1 blocked\"; fi; }\n\
             gateway=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')\n\
             echo \"gateway $gateway\"\n",
        );
        // In parallel: a probe that passt leaves unanswered waits for the timeout. `sleep` keeps
        // nc's sending side open until the answer came (no half-closed connection to carry).
        script.push_str(&format!("probe {WAN} {wan_port} &\n"));
        for address in FORBIDDEN {
            script.push_str(&format!("probe {address} {host_port} &\n"));
        }
        script.push_str("wait\n");
        // An HTTP request to the relay: its first two bytes read as a 18 245-byte DNS message,
        // over the bound, so the relay hangs up without passing anything on.
        script.push_str(
            "said=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 15 nc \"$gateway\" 53 2>&1; echo \"exit $?\")\n\
             echo \"relay said: [$(echo $said)]\"\n",
        );
        let request = request(LABEL, &[&script]);
        let mut handle = start(&executor, request.clone()).await;
        let outputs = collect(&mut handle).await;
        assert_eq!(finished(&outputs), (JobResult::Success, None), "{outputs:#?}");
        let log = step_log(&outputs, 0);
        eprintln!("guest probes: {log:#?}");
        eprintln!("seen by the WAN: {:?}; by the host: {:?}", wan_seen.lock().unwrap(), host_seen.lock().unwrap());

        let gateway = log.iter().find_map(|l| l.strip_prefix("gateway ")).expect("the guest has a default route");
        assert!(gateway.starts_with("169.254."), "the guest's gateway is the host side of its veth: {gateway}");
        assert!(log.contains(&format!("{WAN} reached: wan")), "the WAN is reached: {log:#?}");
        for address in FORBIDDEN {
            let address = if address == "$gateway" { gateway } else { address };
            assert!(log.contains(&format!("{address} blocked")), "{address} must be blocked: {log:#?}");
        }
        assert!(
            log.contains(&"relay said: [exit 0]".to_owned()),
            "the relay hung up on a non-DNS request without an answer: {log:#?}"
        );
        let wan_seen = wan_seen.lock().unwrap().clone();
        assert!(!wan_seen.is_empty(), "the WAN listener saw the guest");
        assert_eq!(*host_seen.lock().unwrap(), Vec::<SocketAddr>::new(), "no connection reached the host");

        setup.assert_nothing_left(&request, None).await;
    });
}

/// Accepts connections forever, answering `name` and remembering which local address each came
/// to.
fn record(listener: TcpListener, name: &'static str) -> Arc<Mutex<Vec<SocketAddr>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            record.lock().unwrap().push(stream.local_addr().unwrap());
            let _ = stream.write_all(format!("{name}\n").as_bytes()).await;
        }
    });
    seen
}

/// Makes the "WAN" namespace, joined to this one by `wan0` (198.51.100.1 here, .2 there), makes
/// it this namespace's default route, and returns a listener on 203.0.113.10 inside it (the
/// socket keeps the namespace alive).
fn wan_namespace() -> TcpListener {
    let (to_test, from_wan) = std::sync::mpsc::channel();
    let (to_wan, from_test) = std::sync::mpsc::channel::<()>();
    let wan = std::thread::spawn(move || {
        // SAFETY: unshare affects only this thread, which ends right after.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare the WAN namespace");
        // SAFETY: gettid has no preconditions.
        to_test.send(unsafe { libc::gettid() }).unwrap();
        from_test.recv().unwrap();
        ip_batch(&format!(
            "link set lo up\naddr add {WAN}/32 dev lo\naddr add 198.51.100.2/24 dev wanpeer\nlink set wanpeer up\n"
        ));
        let listener = std::net::TcpListener::bind((WAN, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        listener
    });
    let tid = from_wan.recv().unwrap();
    ip_batch(&format!(
        "link add wan0 type veth peer name wanpeer netns /proc/{}/task/{tid}/ns/net\n\
         addr add 198.51.100.1/24 dev wan0\n\
         link set wan0 up\n\
         route replace default via 198.51.100.2 dev wan0\n",
        std::process::id()
    ));
    to_wan.send(()).unwrap();
    TcpListener::from_std(wan.join().unwrap()).unwrap()
}

/// Runs `ip -batch` in the calling thread's namespace.
fn ip_batch(script: &str) {
    let mut ip =
        std::process::Command::new("ip").args(["-batch", "-"]).stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut ip.stdin.take().unwrap(), script.as_bytes()).unwrap();
    assert!(ip.wait().unwrap().success(), "ip -batch failed on:\n{script}");
}
