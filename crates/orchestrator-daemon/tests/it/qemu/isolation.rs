//! A guest of the daemon reaches nothing of the host it runs on: the daemon's network namespace
//! (here the test's) listens on every address it has, loopback included, and the job probes
//! them all. The daemon runs with its default network, `routed`: each VM in a namespace of its
//! own with NAT towards the test namespace's fake WAN and everything of the host refused but the
//! DNS relay; the proof that the WAN is reached (and the relay answers) is the vm crate's.

use std::sync::{Arc, Mutex};

use contract::JobResult;
use tokio::io::AsyncWriteExt;

use super::{setup, step_lines};
use crate::jobs::publish;
use crate::support::host::wait_until_clean;
use crate::support::qemu::{LABEL, VM_DEADLINE, request};
use crate::support::runner::{self, Events};
use testkit::netns::TAP_ADDRESS;

/// Addresses the test gives its namespace, beside the tap's and loopback.
const MORE_ADDRESSES: [&str; 3] = ["198.51.100.1", "10.99.0.1", "169.254.169.254"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_reaches_no_listener_of_the_daemons_host() {
    let extra: String = MORE_ADDRESSES.iter().map(|a| format!("addr add {a}/32 dev testtap0\n")).collect();
    let Some((vhost, _db, host)) = setup(&extra).await else { return };
    let listener = host.netns.bind("0.0.0.0:0".parse().unwrap());
    let port = listener.local_addr().unwrap().port();
    let seen = record(listener);
    let bus = runner::bus(&vhost.url()).await;
    let mut events = Events::open(&bus).await;
    let mut daemon = host.spawn();

    // Where the host could be: its loopback (also as QEMU's user network would map it), its
    // addresses, the guest's gateway. The guest's own SSH server is the probe's control.
    let mut targets = vec!["127.0.0.1".to_owned(), "10.0.2.2".to_owned(), TAP_ADDRESS.to_owned(), "$gateway".into()];
    targets.extend(MORE_ADDRESSES.iter().map(|a| a.to_string()));
    let mut script = String::from(
        "probe() { if out=$(sleep 1 | timeout 5 nc \"$1\" \"$2\" 2>&1); then echo \"$1:$2 reached: $out\"; \
         else echo \"$1:$2 blocked\"; fi; }\n\
         gateway=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')\n\
         echo \"gateway $gateway\"\n\
         probe 127.0.0.1 22 &\n",
    );
    for target in &targets {
        script.push_str(&format!("probe {target} {port} &\n"));
    }
    script.push_str("wait\n");
    let job = request(LABEL, &[&script]);
    publish(&bus, &job).await;

    let finished = events.finished_within(job.job_id, VM_DEADLINE).await;
    assert_eq!(finished, (JobResult::Success, None), "{}", daemon.log());
    let lines = step_lines(&events.by_job[&job.job_id], 0);
    let gateway = lines.iter().find_map(|l| l.strip_prefix("gateway ")).expect("the guest has a default route");
    assert!(
        lines.iter().any(|l| l.starts_with("127.0.0.1:22 reached: SSH-2.0-")),
        "the probe works: the guest's own SSH server answers: {lines:#?}"
    );
    for target in &targets {
        let target = if target == "$gateway" { gateway } else { target };
        assert!(lines.contains(&format!("{target}:{port} blocked")), "{target} must be blocked: {lines:#?}");
    }
    assert!(seen.lock().unwrap().is_empty(), "a guest's connection reached the host");

    wait_until_clean(Some(daemon.pid()), host.state.path()).await;
    assert!(daemon.terminate(runner::DEADLINE).await.success(), "{}", daemon.log());
}

/// Accepts connections forever, answering each, and remembers where they came from.
fn record(listener: std::net::TcpListener) -> Arc<Mutex<Vec<std::net::SocketAddr>>> {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            record.lock().unwrap().push(peer);
            let _ = stream.write_all(b"host\n").await;
        }
    });
    seen
}
