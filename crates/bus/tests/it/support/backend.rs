//! The two buses the behavioural tests run against: written once, instantiated for both by
//! [`crate::behaviour!`].

use std::time::Duration;

use bus::amqp::Reconnect;
use bus::{AmqpBus, AmqpSettings, Bus, InProcessBus};

use testkit::rabbitmq::TestVhost;

pub trait Backend: Sized {
    type B: Bus;

    async fn start() -> Self;

    /// The bus the test publishes and consumes on.
    fn bus(&self) -> Self::B;

    /// A second client of the same bus: another process, as far as the broker can tell.
    async fn another(&self) -> Self::B;

    /// How long "nothing more arrives" is watched for.
    fn quiet(&self) -> Duration;
}

/// Runs with tokio's paused clock: waiting for nothing costs no wall time.
pub struct InProcess(InProcessBus);

impl Backend for InProcess {
    type B = InProcessBus;

    async fn start() -> Self {
        InProcess(InProcessBus::new())
    }

    fn bus(&self) -> InProcessBus {
        self.0.clone()
    }

    async fn another(&self) -> InProcessBus {
        self.0.clone()
    }

    fn quiet(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// A RabbitMQ vhost of its own, dropped after the buses.
pub struct Amqp {
    bus: AmqpBus,
    vhost: TestVhost,
}

impl Amqp {
    pub fn vhost(&self) -> &TestVhost {
        &self.vhost
    }
}

/// Settings for tests: quick retries, a short budget.
pub fn test_settings(url: String) -> AmqpSettings {
    let mut settings = AmqpSettings::new(url);
    settings.connection_name = "bus tests".into();
    settings.reconnect = Reconnect {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        give_up_after: Duration::from_secs(15),
    };
    settings
}

impl Backend for Amqp {
    type B = AmqpBus;

    async fn start() -> Self {
        let vhost = TestVhost::create();
        let bus = AmqpBus::connect(test_settings(vhost.url())).await.expect("connect to RabbitMQ");
        Amqp { bus, vhost }
    }

    fn bus(&self) -> AmqpBus {
        self.bus.clone()
    }

    async fn another(&self) -> AmqpBus {
        AmqpBus::connect(test_settings(self.vhost.url())).await.expect("connect to RabbitMQ")
    }

    fn quiet(&self) -> Duration {
        Duration::from_millis(300)
    }
}
