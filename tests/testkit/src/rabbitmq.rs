//! A RabbitMQ vhost of its own per test, deleted when the test ends (also on panic), so tests
//! share the broker at 127.0.0.1:5672 without sharing queues, and never touch the default
//! vhost `/`. Made and removed with `rabbitmqctl`, which needs no management plugin.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;

/// The broker every AMQP test talks to (directly or through a [`crate::proxy::Proxy`]).
pub const BROKER_PORT: u16 = 5672;
/// The broker's address, for a proxy in front of it.
pub const BROKER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), BROKER_PORT);

pub struct TestVhost {
    pub name: String,
}

impl TestVhost {
    /// A fresh vhost named `solstice-test-<ulid>`, where `guest` may do anything.
    pub fn create() -> TestVhost {
        let name = format!("solstice-test-{}", ulid::Ulid::new().to_string().to_lowercase());
        rabbitmqctl(&["add_vhost", &name]);
        // Made before the permissions, so a failure below still deletes the vhost.
        let vhost = TestVhost { name };
        rabbitmqctl(&["set_permissions", "-p", &vhost.name, "guest", ".*", ".*", ".*"]);
        vhost
    }

    /// This vhost's URL on the broker itself.
    pub fn url(&self) -> String {
        self.url_on(BROKER_PORT)
    }

    /// This vhost's URL on `port` of 127.0.0.1 (the broker's, or a proxy's).
    pub fn url_on(&self, port: u16) -> String {
        format!("amqp://guest:guest@127.0.0.1:{port}/{}", self.name)
    }

    /// How many messages wait in `queue` (0 when there is no such queue).
    pub fn messages(&self, queue: &str) -> u64 {
        let output = rabbitmqctl(&["list_queues", "-p", &self.name, "--no-table-headers", "name", "messages"]);
        output
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(name, _)| name.trim() == queue)
            .and_then(|(_, count)| count.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let deleted = Command::new("rabbitmqctl").args(["-q", "delete_vhost", &self.name]).output();
        match deleted {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                eprintln!("could not delete vhost {}: {}", self.name, String::from_utf8_lossy(&output.stderr))
            }
            Err(error) => eprintln!("could not delete vhost {}: {error}", self.name),
        }
    }
}

fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl").arg("-q").args(args).output().unwrap_or_else(|error| {
        panic!(
            "these tests need rabbitmqctl and RabbitMQ at 127.0.0.1:{BROKER_PORT} (Debian: rabbitmq-server): {error}"
        )
    });
    assert!(
        output.status.success(),
        "rabbitmqctl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
