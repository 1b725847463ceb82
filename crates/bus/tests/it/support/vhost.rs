//! A RabbitMQ vhost of its own per AMQP test, deleted when the test ends (also on panic), so
//! tests share the broker CI runs at 127.0.0.1:5672 without sharing queues, and never touch
//! the default vhost `/`.

use std::process::Command;

use ulid::Ulid;

/// The broker every AMQP test talks to (directly or through a [`super::proxy::Proxy`]).
pub const BROKER_PORT: u16 = 5672;

pub struct TestVhost {
    pub name: String,
}

impl TestVhost {
    pub fn create() -> Self {
        let name = format!("solstice-test-{}", Ulid::new().to_string().to_lowercase());
        rabbitmqctl(&["add_vhost", &name]);
        let vhost = TestVhost { name };
        rabbitmqctl(&["set_permissions", "-p", &vhost.name, "guest", ".*", ".*", ".*"]);
        vhost
    }

    /// The URL of this vhost on `port` of 127.0.0.1 (the broker's, or a proxy's).
    pub fn url(&self, port: u16) -> String {
        format!("amqp://guest:guest@127.0.0.1:{port}/{}", self.name)
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

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl").arg("-q").args(args).output().unwrap_or_else(|error| {
        panic!(
            "the AMQP tests need rabbitmqctl and RabbitMQ at 127.0.0.1:{BROKER_PORT} (Debian: rabbitmq-server): {error}"
        )
    });
    assert!(
        output.status.success(),
        "rabbitmqctl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
