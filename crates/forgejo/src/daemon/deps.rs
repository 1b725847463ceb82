//! What the daemon runs on: a bus, a store and the bus key. The standalone runner makes them
//! from its environment (RabbitMQ, `SOLSTICE_DATABASE_URL` or a SQLite file beside the `.runner`
//! file, `SOLSTICE_BUS_KEY`); `solstice serve` hands in its own in-process bus and SQLite store.

use std::path::Path;
use std::sync::Arc;

use bus::Bus;
use contract::BusKey;
use tokio::sync::oneshot;

use super::{Connected, DaemonError};

/// The bus, store and key a runner works with, given by its caller.
pub struct Deps<B: Bus> {
    pub bus: B,
    /// Keeps each task's report state (`runner_tasks`), so a restart resumes it.
    pub store: Arc<dyn store::Store>,
    /// Seals the jobs' secrets; the orchestrators open them with the same key.
    pub bus_key: BusKey,
    /// Told once the runner follows the orchestrators' free-slot adverts. An advert sent before
    /// that is missed until the next one (10 s later), so a caller that starts its orchestrator
    /// itself (`solstice serve`) starts it serving after this fired.
    pub ready: Option<oneshot::Sender<()>>,
}

/// What the standalone daemon reads from the environment beyond its settings.
pub struct Secrets {
    pub bus_key: BusKey,
    /// `SOLSTICE_DATABASE_URL`; `None` for the SQLite file next to the `.runner` file.
    pub database_url: Option<String>,
}

impl Secrets {
    /// `SOLSTICE_BUS_KEY` (required) and `SOLSTICE_DATABASE_URL`.
    pub fn from_env() -> Result<Secrets, DaemonError> {
        let database_url = std::env::var("SOLSTICE_DATABASE_URL").ok().filter(|url| !url.trim().is_empty());
        let text = std::env::var("SOLSTICE_BUS_KEY").ok().filter(|text| !text.trim().is_empty());
        let bus_key = BusKey::from_base64(&text.ok_or(DaemonError::NoBusKey)?).map_err(DaemonError::BusKey)?;
        Ok(Secrets { bus_key, database_url })
    }
}

/// The standalone daemon's dependencies: the store, then a RabbitMQ connection named after the
/// runner.
///
/// The returned future is not `Send` (sqlx's connect futures trip the compiler's proof of it),
/// so neither are `run_with` and `one_job`: run them with `block_on` or inside the task that
/// awaits them, not `tokio::spawn`.
pub(super) async fn amqp(
    runner_file: &Path,
    connected: &Connected,
    amqp: &bus::AmqpSettings,
    secrets: Secrets,
) -> Result<Deps<bus::AmqpBus>, DaemonError> {
    let Secrets { bus_key, database_url } = secrets;
    let store = open_store(runner_file, database_url.as_deref()).await?;
    let name = format!("forgejo-runner {}", connected.registration.uuid);
    let amqp = bus::AmqpSettings { connection_name: name, ..amqp.clone() };
    let bus = bus::AmqpBus::connect(amqp).await.map_err(DaemonError::Bus)?;
    Ok(Deps { bus, store, bus_key, ready: None })
}

/// The database URL, else a SQLite file next to the `.runner` file.
async fn open_store(runner_file: &Path, database_url: Option<&str>) -> Result<Arc<dyn store::Store>, DaemonError> {
    let url = match database_url.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => url.to_owned(),
        None => {
            let dir = runner_file.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
            format!("sqlite://{}", dir.join("forgejo-runner.sqlite").display())
        }
    };
    store::connect(&url).await.map_err(DaemonError::Store)
}
