//! What the daemon runs on: a bus, a store and the bus key. The standalone runner makes them
//! from its environment (RabbitMQ, `SOLSTICE_DATABASE_URL` or a SQLite file in the state dir,
//! `SOLSTICE_BUS_KEY`); `solstice serve` hands in its own in-process bus and SQLite store.

use std::path::Path;
use std::sync::Arc;

use bus::Bus;
use contract::BusKey;
use tokio::sync::oneshot;

use super::DaemonError;
use crate::settings::Settings;

/// The bus, store and key the runner works with, given by its caller.
pub struct Deps<B: Bus> {
    pub bus: B,
    /// Keeps each job's state (`runner_tasks`), so a restart resumes it.
    pub store: Arc<dyn store::Store>,
    /// Seals the jobs' secrets; the orchestrators open them with the same key.
    pub bus_key: BusKey,
    /// Told once the runner follows the orchestrators' free-slot adverts, so a caller that
    /// starts its orchestrator itself starts it after this fired and no advert is missed.
    pub ready: Option<oneshot::Sender<()>>,
}

/// What the standalone runner reads from the environment beyond its settings.
pub struct Secrets {
    pub bus_key: BusKey,
    /// `SOLSTICE_DATABASE_URL`; `None` for the SQLite file in the state dir.
    pub database_url: Option<String>,
}

impl Secrets {
    /// `SOLSTICE_BUS_KEY` (required) and `SOLSTICE_DATABASE_URL`.
    pub fn from_env() -> Result<Secrets, DaemonError> {
        let database_url = std::env::var("SOLSTICE_DATABASE_URL").ok().filter(|url| !url.trim().is_empty());
        let text = std::env::var("SOLSTICE_BUS_KEY").ok().filter(|text| !text.trim().is_empty());
        let bus_key = BusKey::from_base64(text.ok_or(DaemonError::NoBusKey)?.trim()).map_err(DaemonError::BusKey)?;
        Ok(Secrets { bus_key, database_url })
    }
}

/// The store (opened first: sqlx's connect future is not `Send`), then RabbitMQ.
pub(super) async fn amqp(settings: &Settings, secrets: Secrets) -> Result<Deps<bus::AmqpBus>, DaemonError> {
    let Secrets { bus_key, database_url } = secrets;
    let amqp = settings.amqp.clone().ok_or(DaemonError::NoAmqp)?;
    let store = open_store(&settings.state_dir, database_url.as_deref()).await?;
    let amqp = bus::AmqpSettings { connection_name: format!("github-runner {}", std::process::id()), ..amqp };
    let bus = bus::AmqpBus::connect(amqp).await.map_err(DaemonError::Bus)?;
    Ok(Deps { bus, store, bus_key, ready: None })
}

/// The database URL, else `sqlite://<state dir>/github-runner.sqlite`.
pub async fn open_store(state_dir: &Path, database_url: Option<&str>) -> Result<Arc<dyn store::Store>, DaemonError> {
    let url = match database_url.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", state_dir.join("github-runner.sqlite").display()),
    };
    store::connect(&url).await.map_err(DaemonError::Store)
}
