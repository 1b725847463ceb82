//! [`Uplink::Routed`](crate::Uplink::Routed): a veth pair from the VM's namespace to the one the
//! executor runs in (the "host side"), NAT on the host side, and drops on both sides for
//! everything of the host.
//!
//! Per VM, with `N` a free index below [`POOL_SIZE`]:
//!
//! - host side: `solvN` holding `169.254.(192 + N/64).(4·(N%64) + 1)/30`, i.e. one /30 per VM out of
//!   169.254.192.0/18 (link-local, so nothing a host routes elsewhere, and away from
//!   169.254.169.254); the VM's namespace holds the other end, `eth0`, with `…+2/30` and a default
//!   route through `…+1`. passt copies that address and gateway to the guest.
//! - VM side: IPv6 off (`disable_ipv6`, and passt `-4`), and `ip rule`s that answer "prohibited"
//!   before the routing table is even looked at, for [`FORBIDDEN_V4`] and for every address the
//!   host side held when the VM started. passt's sockets live here, so whatever the guest sends
//!   is subject to them.
//! - host side, once per host and the same for every VM, so applying it again is harmless: the
//!   nftables table `inet solstice_vm` rejects anything from a `solv*` interface addressed to the
//!   host itself (the `input` hook: this covers addresses the host gains later), drops forwarding
//!   from a `solv*` interface to another one or to a forbidden range or over IPv6, and
//!   masquerades what leaves through any other interface; `net.ipv4.ip_forward` is turned on.
//!
//! - DNS: a relay ([`super::dns`]) listens on the host side's address, port 53; passt offers that
//!   address to the guest as its DNS server. It is the one opening: a VM-side `ip rule` before the
//!   prohibitions lets UDP and TCP to that address and port 53 through, and the host's `input`
//!   chain accepts UDP and TCP to port 53 of the transfer nets from a `solv*` interface. A VM
//!   cannot use another VM's relay: its own rules prohibit every other link-local address.
//!
//! Nothing needs removing when a VM ends: the veth pair dies with the VM's namespace. The table
//! and `ip_forward` stay.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};

use super::dns::{self, DnsRelay};
use super::{NetworkError, run_script};
use crate::netns::Netns;
use crate::process::{ToolError, confined};
use crate::tools::Tools;

/// How many VMs can be routed at once: /30s in 169.254.192.0/18.
const POOL_SIZE: u16 = 4096;

/// Where every VM's /30 comes from.
const TRANSFER_NETS: &str = "169.254.192.0/18";

/// Destinations a guest must never reach (IPv4; IPv6 is off altogether): "this network",
/// RFC 1918, CGNAT (RFC 6598), loopback, link-local (169.254.169.254 included), multicast and the
/// reserved block with the broadcast address.
pub(crate) const FORBIDDEN_V4: [&str; 9] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

/// The host side's rules; see the module docs. `delete` after `add` makes one atomic transaction
/// that replaces whatever an older version of the table held.
fn host_ruleset() -> String {
    let forbidden = FORBIDDEN_V4.join(", ");
    let port = dns::PORT;
    format!(
        "add table inet solstice_vm\n\
         delete table inet solstice_vm\n\
         table inet solstice_vm {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"solv*\" ip daddr {TRANSFER_NETS} meta l4proto {{ tcp, udp }} th dport {port} accept\n\
         \t\tiifname \"solv*\" reject with icmpx type admin-prohibited\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"solv*\" oifname \"solv*\" drop\n\
         \t\tiifname \"solv*\" meta nfproto ipv6 drop\n\
         \t\tiifname \"solv*\" ip daddr {{ {forbidden} }} drop\n\
         \t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tiifname \"solv*\" oifname != \"solv*\" masquerade\n\
         \t}}\n\
         }}\n"
    )
}

/// Where the next VM's index search starts; indexes in use are skipped by `ip link add` failing.
static NEXT_INDEX: AtomicU16 = AtomicU16::new(0);

/// Wires `netns` as the module docs say; the host side's address, where the returned relay
/// answers DNS.
pub(super) async fn wire(netns: &Netns, tools: &Tools) -> Result<(Ipv4Addr, DnsRelay), NetworkError> {
    let mut nft = confined(&tools.nft, None);
    nft.args(["-f", "-"]);
    run_script(nft, "nft -f -", &host_ruleset()).await.map_err(NetworkError::Uplink)?;
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|source| NetworkError::Sysctl { name: "net.ipv4.ip_forward", source })?;
    let host = host_addresses(tools).await.map_err(NetworkError::Uplink)?;

    for name in ["/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"] {
        match netns.write_sysctl(name, "1").await {
            // A kernel without IPv6 has no such files, and nothing to turn off.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            other => other.map_err(|source| NetworkError::Sysctl { name: "net.ipv6.conf.*.disable_ipv6", source })?,
        }
    }
    let index = add_veth(netns, tools).await.map_err(NetworkError::Uplink)?;
    let (gateway, guest) = transfer_net(index);

    let host_side = format!("addr add {gateway}/30 dev solv{index}\nlink set solv{index} up\n");
    run_script(ip_batch(tools, None), "ip -batch (host side)", &host_side).await.map_err(NetworkError::Uplink)?;
    let resolvers = dns::resolvers(std::path::Path::new("/etc/resolv.conf"));
    let relay = DnsRelay::start(gateway, resolvers).await.map_err(NetworkError::Dns)?;

    let mut vm_side = format!(
        "link set lo up\n\
         addr add {guest}/30 dev eth0\n\
         link set eth0 up\n\
         route add default via {gateway} dev eth0 onlink\n"
    );
    for proto in ["udp", "tcp"] {
        vm_side
            .push_str(&format!("rule add pref 90 to {gateway}/32 ipproto {proto} dport {} lookup main\n", dns::PORT));
    }
    for range in FORBIDDEN_V4 {
        vm_side.push_str(&format!("rule add pref 100 to {range} prohibit\n"));
    }
    for address in host.iter().filter(|a| !FORBIDDEN_V4.iter().any(|r| in_range(**a, r))) {
        vm_side.push_str(&format!("rule add pref 101 to {address}/32 prohibit\n"));
    }
    run_script(ip_batch(tools, Some(netns)), "ip -batch (VM side)", &vm_side).await.map_err(NetworkError::Uplink)?;
    Ok((gateway, relay))
}

fn ip_batch(tools: &Tools, netns: Option<&Netns>) -> tokio::process::Command {
    let mut command = confined(&tools.ip, netns);
    command.args(["-batch", "-"]);
    command
}

/// Creates `solvN` here and its peer `eth0` in `netns`, trying indexes until one is free.
async fn add_veth(netns: &Netns, tools: &Tools) -> Result<u16, ToolError> {
    let start = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
    let mut last = None;
    for offset in 0..POOL_SIZE {
        let index = start.wrapping_add(offset) % POOL_SIZE;
        let mut command = confined(&tools.ip, None);
        command
            .arg("link")
            .arg("add")
            .arg(format!("solv{index}"))
            .args(["type", "veth", "peer", "name", "eth0", "netns"]);
        command.arg(netns.path());
        match run_script(command, "ip link add (veth)", "").await {
            Ok(_) => {
                NEXT_INDEX.store(index.wrapping_add(1) % POOL_SIZE, Ordering::Relaxed);
                return Ok(index);
            }
            Err(ToolError::Failed { output, .. }) if output.contains("File exists") => {
                last = Some(output);
            }
            Err(other) => return Err(other),
        }
    }
    Err(ToolError::Failed {
        what: "ip link add (veth)".into(),
        status: "every index taken".into(),
        output: last.unwrap_or_default(),
    })
}

/// The host side's and the VM side's address of VM `index`'s /30.
fn transfer_net(index: u16) -> (Ipv4Addr, Ipv4Addr) {
    let base = u32::from(Ipv4Addr::new(169, 254, 192, 0)) + 4 * u32::from(index);
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

/// Every IPv4 address the host side holds now (`ip -o -4 addr show`).
async fn host_addresses(tools: &Tools) -> Result<Vec<Ipv4Addr>, ToolError> {
    let mut command = confined(&tools.ip, None);
    command.args(["-o", "-4", "addr", "show"]).stdin(Stdio::null());
    let text = run_script(command, "ip -o -4 addr show", "").await?;
    Ok(parse_addresses(&text))
}

/// The addresses in `ip -o -4 addr show` output: "2: eth0    inet 192.0.2.1/24 brd … scope …".
fn parse_addresses(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip_while(|w| *w != "inet");
            words.next()?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Whether `address` lies in `range` ("a.b.c.d/len").
fn in_range(address: Ipv4Addr, range: &str) -> bool {
    let Some((base, len)) = range.split_once('/') else { return false };
    let (Ok(base), Ok(len)) = (base.parse::<Ipv4Addr>(), len.parse::<u32>()) else { return false };
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(address) & mask == u32::from(base) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_nets_stay_in_the_pool_and_off_the_metadata_address() {
        assert_eq!(transfer_net(0), (Ipv4Addr::new(169, 254, 192, 1), Ipv4Addr::new(169, 254, 192, 2)));
        assert_eq!(transfer_net(POOL_SIZE - 1), (Ipv4Addr::new(169, 254, 255, 253), Ipv4Addr::new(169, 254, 255, 254)));
    }

    #[test]
    fn addresses_are_read_from_ip_output() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                    2: testtap0    inet 192.0.2.1/24 scope global testtap0\\       valid_lft forever\n";
        assert_eq!(parse_addresses(text), [Ipv4Addr::LOCALHOST, Ipv4Addr::new(192, 0, 2, 1)]);
    }

    #[test]
    fn ranges() {
        assert!(in_range(Ipv4Addr::new(169, 254, 169, 254), "169.254.0.0/16"));
        assert!(in_range(Ipv4Addr::new(172, 31, 1, 1), "172.16.0.0/12"));
        assert!(!in_range(Ipv4Addr::new(172, 32, 1, 1), "172.16.0.0/12"));
        assert!(!in_range(Ipv4Addr::new(203, 0, 113, 10), "100.64.0.0/10"));
    }
}
