//! The one connection of an [`super::AmqpBus`] and its publisher channel, re-established with
//! backoff whenever they are found dead. Every clone of the bus shares one `Link`.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use super::settings::{AmqpSettings, Backoff};
use super::topology;
use crate::BusError;

pub(crate) struct Link {
    pub settings: AmqpSettings,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    /// In confirm mode; shared by every publish of this bus.
    publisher: Option<Channel>,
    /// How many connections this link has made, for the logs.
    connections: u64,
    /// When the broker was first found unreachable in the outage under way: every caller that
    /// needs the connection shares one retry budget, so a broker gone for good is given up on
    /// once, not once per consumer and publisher in turn.
    failing_since: Option<tokio::time::Instant>,
}

/// A message to publish.
pub(crate) struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub payload: &'a [u8],
    /// Come back (basic.return) if no queue is bound for the key.
    pub mandatory: bool,
    pub headers: Option<FieldTable>,
}

/// What the broker did with a confirmed publish.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Published {
    Routed,
    /// Came back: no queue is bound for the routing key (only for `mandatory`).
    Returned,
}

impl Link {
    pub fn new(settings: AmqpSettings) -> Self {
        Link { settings, state: Mutex::new(State::default()) }
    }

    /// A new channel on a live connection, connecting first if needed.
    pub async fn channel(&self) -> Result<Channel, BusError> {
        let mut backoff = Backoff::new(self.settings.reconnect);
        loop {
            let mut state = self.state.lock().await;
            self.connect(&mut state).await?;
            let Some(connection) = &state.connection else { continue };
            match connection.create_channel().await {
                Ok(channel) => return Ok(channel),
                Err(error) => {
                    state.connection = None;
                    state.publisher = None;
                    drop(state);
                    self.pause(&mut backoff, error).await?;
                }
            }
        }
    }

    /// Publishes and waits for the broker's confirm, retrying over reconnects until confirmed:
    /// a publish interrupted by a connection loss is sent again, so a consumer may see it twice.
    pub async fn publish(&self, message: &Outgoing<'_>) -> Result<Published, BusError> {
        let mut backoff = Backoff::new(self.settings.reconnect);
        loop {
            let channel = self.publisher().await?;
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_headers(message.headers.clone().unwrap_or_default());
            let options = BasicPublishOptions { mandatory: message.mandatory, ..BasicPublishOptions::default() };
            let sent = async {
                channel
                    .basic_publish(
                        message.exchange.into(),
                        message.routing_key.into(),
                        options,
                        message.payload,
                        properties,
                    )
                    .await?
                    .await
            };
            // A broker that blocks publishers (a memory or disk alarm) never confirms; waiting
            // longer than the whole retry budget makes it unavailable like an absent one.
            let Ok(sent) = tokio::time::timeout(self.settings.reconnect.give_up_after, sent).await else {
                return Err(BusError::Unavailable {
                    broker: self.settings.broker(),
                    attempts: backoff.attempts + 1,
                    waited: backoff.waited(),
                    last: "the broker did not confirm the publish (is it blocking publishers?)".into(),
                });
            };
            match sent {
                Ok(Confirmation::Ack(None)) => return Ok(Published::Routed),
                Ok(Confirmation::Ack(Some(_))) => return Ok(Published::Returned),
                Ok(other) => {
                    // A nack: the broker could not take it (e.g. a queue over its limit).
                    let error = std::io::Error::other(format!("the broker did not confirm: {other:?}"));
                    self.pause(&mut backoff, error).await?;
                }
                Err(error) => {
                    tracing::debug!(exchange = message.exchange, %error, "publish interrupted, sending again");
                    self.forget_publisher(&channel).await;
                    self.pause(&mut backoff, error).await?;
                }
            }
        }
    }

    async fn publisher(&self) -> Result<Channel, BusError> {
        let mut backoff = Backoff::new(self.settings.reconnect);
        loop {
            let mut state = self.state.lock().await;
            if let Some(channel) = &state.publisher
                && channel.status().connected()
            {
                return Ok(channel.clone());
            }
            self.connect(&mut state).await?;
            let Some(connection) = &state.connection else { continue };
            let opened = async {
                let channel = connection.create_channel().await?;
                channel.confirm_select(ConfirmSelectOptions::default()).await?;
                Ok::<_, lapin::Error>(channel)
            };
            match opened.await {
                Ok(channel) => {
                    state.publisher = Some(channel.clone());
                    return Ok(channel);
                }
                Err(error) => {
                    state.connection = None;
                    state.publisher = None;
                    drop(state);
                    self.pause(&mut backoff, error).await?;
                }
            }
        }
    }

    async fn forget_publisher(&self, failed: &Channel) {
        let mut state = self.state.lock().await;
        if state.publisher.as_ref().is_some_and(|channel| channel.id() == failed.id()) {
            state.publisher = None;
        }
    }

    /// Makes sure `state` holds a live connection with the topology declared, retrying with
    /// backoff; the whole budget spent is [`BusError::Unavailable`].
    async fn connect(&self, state: &mut State) -> Result<(), BusError> {
        if state.connection.as_ref().is_some_and(|c| c.status().connected()) {
            return Ok(());
        }
        if state.connection.take().is_some() {
            tracing::warn!(broker = %self.settings.broker(), "connection to the broker lost, reconnecting");
        }
        state.publisher = None;
        let started = state.failing_since.unwrap_or_else(tokio::time::Instant::now);
        let mut backoff = Backoff::since(self.settings.reconnect, started);
        loop {
            match self.open().await {
                Ok(connection) => {
                    state.failing_since = None;
                    state.connections += 1;
                    if state.connections > 1 || backoff.attempts > 0 {
                        tracing::info!(
                            broker = %self.settings.broker(),
                            attempts = backoff.attempts + 1,
                            "connected to the broker again"
                        );
                    } else {
                        tracing::debug!(broker = %self.settings.broker(), "connected to the broker");
                    }
                    state.connection = Some(connection);
                    return Ok(());
                }
                Err(error) => {
                    state.failing_since.get_or_insert(backoff.started());
                    self.pause(&mut backoff, error).await?;
                }
            }
        }
    }

    async fn open(&self) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>> {
        match tokio::time::timeout(self.settings.connect_timeout, self.handshake()).await {
            Ok(opened) => Ok(opened?),
            Err(_) => Err(format!("no connection within {:?}", self.settings.connect_timeout).into()),
        }
    }

    async fn handshake(&self) -> lapin::Result<Connection> {
        let properties =
            ConnectionProperties::default().with_connection_name(self.settings.connection_name.as_str().into());
        let connection = Connection::connect(&self.settings.url, properties).await?;
        let channel = connection.create_channel().await?;
        topology::declare_exchanges(&channel).await?;
        // Errors closing the declaring channel do not matter: the connection is what counts.
        let _ = channel.close(200, "topology declared".into()).await;
        Ok(connection)
    }

    /// Logs a failed attempt and waits before the next, or gives up.
    pub async fn pause(
        &self,
        backoff: &mut Backoff,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<(), BusError> {
        let error = error.into();
        match backoff.failed() {
            Some(delay) => {
                tracing::warn!(
                    broker = %self.settings.broker(),
                    attempt = backoff.attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    %error,
                    "broker unavailable, retrying"
                );
                tokio::time::sleep(delay).await;
                Ok(())
            }
            None => Err(BusError::Unavailable {
                broker: self.settings.broker(),
                attempts: backoff.attempts,
                waited: backoff.waited(),
                last: error,
            }),
        }
    }
}
