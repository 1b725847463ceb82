//! A RabbitMQ vhost of its own per test, deleted when the test ends (also on panic).

use std::process::Command;

pub struct TestVhost {
    pub name: String,
}

impl TestVhost {
    pub fn create() -> Self {
        let name = format!("solstice-orch-test-{}", ulid::Ulid::new().to_string().to_lowercase());
        rabbitmqctl(&["add_vhost", &name]);
        let vhost = TestVhost { name };
        rabbitmqctl(&["set_permissions", "-p", &vhost.name, "guest", ".*", ".*", ".*"]);
        vhost
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    /// How many messages wait in `queue`.
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
        if !matches!(deleted, Ok(ref output) if output.status.success()) {
            eprintln!("could not delete vhost {}: {deleted:?}", self.name);
        }
    }
}

fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("these tests need rabbitmqctl and RabbitMQ at 127.0.0.1:5672: {error}"));
    assert!(output.status.success(), "rabbitmqctl {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
