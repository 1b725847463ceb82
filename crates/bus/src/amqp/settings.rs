use std::fmt;
use std::time::Duration;

use crate::BusError;

/// The environment variable that names the broker (brief §3.6).
pub const AMQP_URL_ENV: &str = "SOLSTICE_AMQP_URL";

/// How to reach RabbitMQ and how patient to be. Debug output never shows the URL's password.
#[derive(Clone)]
pub struct AmqpSettings {
    /// `amqp://user:password@host:port/vhost` (the vhost percent-encoded, `%2f` for `/`), or
    /// `amqps://…`.
    pub url: String,
    /// Shown in the broker's connection list, e.g. `orchestrator host-1`.
    pub connection_name: String,
    pub reconnect: Reconnect,
    /// How long one connection attempt (TCP, TLS, AMQP handshake, declarations) may take
    /// before it counts as failed: a host that drops packets would otherwise hold it for minutes.
    pub connect_timeout: Duration,
    /// `x-delivery-limit` of the job queues: a job delivered this many times without an ack
    /// (its orchestrators kept dying on it) is dead-lettered instead of delivered again.
    pub job_delivery_limit: u32,
    /// `x-expires` of the event queues this process declares: set it for ephemeral runners, so
    /// that the queue of a runner that never comes back goes away. `None`: the queue stays.
    pub event_queue_expiry: Option<Duration>,
    /// `x-expires` of each cancel subscriber's queue: long enough to ride out a reconnect,
    /// short enough that the queue of a process that is gone does not pile up cancels.
    pub cancel_queue_expiry: Duration,
    /// Unacked deliveries an event, cancel or slot consumer may hold (its prefetch).
    pub prefetch: u16,
}

/// Backoff between reconnect attempts: exponential from `initial`, capped at `max`, each delay
/// jittered down by up to half, and given up (as [`BusError::Unavailable`]) once the broker has
/// been failing for `give_up_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    pub initial: Duration,
    pub max: Duration,
    pub give_up_after: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            give_up_after: Duration::from_secs(120),
        }
    }
}

impl AmqpSettings {
    /// Defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        AmqpSettings {
            url: url.into(),
            connection_name: "solstice".into(),
            reconnect: Reconnect::default(),
            connect_timeout: Duration::from_secs(10),
            job_delivery_limit: 5,
            event_queue_expiry: None,
            cancel_queue_expiry: Duration::from_secs(3600),
            prefetch: 64,
        }
    }

    /// From `SOLSTICE_AMQP_URL`; a missing variable is a configuration error (exit 2).
    pub fn from_env() -> Result<Self, BusError> {
        match std::env::var(AMQP_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => {
                let settings = AmqpSettings::new(url.trim());
                settings.validate()?;
                Ok(settings)
            }
            _ => Err(BusError::Config { reason: format!("{AMQP_URL_ENV} is not set") }),
        }
    }

    /// Checks the URL's shape without connecting.
    pub fn validate(&self) -> Result<(), BusError> {
        self.url
            .parse::<lapin::uri::AMQPUri>()
            .map(|_| ())
            .map_err(|reason| BusError::Config { reason: format!("{AMQP_URL_ENV} is not an AMQP URL: {reason}") })
    }

    /// Host, port and vhost, without credentials: what logs and errors may show.
    pub fn broker(&self) -> String {
        match self.url.parse::<lapin::uri::AMQPUri>() {
            Ok(uri) => format!("{}:{}/{}", uri.authority.host, uri.authority.port, uri.vhost),
            Err(_) => "an unparsable URL".into(),
        }
    }
}

impl fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("broker", &self.broker())
            .field("connection_name", &self.connection_name)
            .field("reconnect", &self.reconnect)
            .field("connect_timeout", &self.connect_timeout)
            .field("job_delivery_limit", &self.job_delivery_limit)
            .field("event_queue_expiry", &self.event_queue_expiry)
            .field("cancel_queue_expiry", &self.cancel_queue_expiry)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

/// The delays of one run of retries.
pub(crate) struct Backoff {
    policy: Reconnect,
    next: Duration,
    started: tokio::time::Instant,
    pub attempts: u32,
}

impl Backoff {
    pub fn new(policy: Reconnect) -> Self {
        Backoff::since(policy, tokio::time::Instant::now())
    }

    /// A run of retries that counts its budget from `started`: an outage already under way.
    pub fn since(policy: Reconnect, started: tokio::time::Instant) -> Self {
        Backoff { policy, next: policy.initial, started, attempts: 0 }
    }

    pub fn started(&self) -> tokio::time::Instant {
        self.started
    }

    /// Counts a failed attempt; the delay before the next one, or `None` when the budget is
    /// spent.
    pub fn failed(&mut self) -> Option<Duration> {
        self.attempts += 1;
        if self.started.elapsed() >= self.policy.give_up_after {
            return None;
        }
        let base = self.next.min(self.policy.max);
        self.next = (self.next * 2).min(self.policy.max);
        // Full jitter on the upper half: peers that lost the broker together do not come back
        // in lockstep.
        let half = base / 2;
        let jitter = half.mul_f64(random_fraction());
        Some(half + jitter)
    }

    pub fn waited(&self) -> Duration {
        self.started.elapsed()
    }
}

fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}
