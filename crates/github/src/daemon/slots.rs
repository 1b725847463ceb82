//! The orchestrators' free-slot adverts (brief §3.4), kept as one [`SlotBoard`] every
//! registration watches: a registration tells the broker it is `Online` only while its label has
//! a free VM slot somewhere, so GitHub offers no more jobs than the orchestrators can start.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{Consumer, FreeSlots, SlotBoard};
use tokio::sync::watch;
use tokio::time::Instant;

/// Orchestrators advertise every 10 s; one silent this long is taken for gone.
pub const STALE_AFTER: Duration = Duration::from_secs(35);

/// Keeps `board` at the latest advert of every orchestrator heard from within `stale_after`.
/// Returns when the advert consumer fails, with the board emptied.
pub async fn track<C: Consumer<FreeSlots>>(mut slots: C, board: watch::Sender<SlotBoard>, stale_after: Duration) {
    let mut heard: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        let oldest = heard.values().min().copied();
        let stale = async {
            match oldest {
                Some(at) => tokio::time::sleep_until(at + stale_after).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            delivery = slots.next() => match delivery {
                Ok(delivery) => {
                    heard.insert(delivery.payload.orchestrator_id.clone(), Instant::now());
                    board.send_modify(|board| board.record(&delivery.payload));
                    if let Err(error) = delivery.acker.ack().await {
                        tracing::debug!(error = %crate::error_chain(&error), "could not ack a slot advert");
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %crate::error_chain(&error), "slot adverts stopped; taking no more jobs");
                    board.send_replace(SlotBoard::default());
                    return;
                }
            },
            () = stale => {
                let now = Instant::now();
                let gone: Vec<String> =
                    heard.iter().filter(|(_, at)| now.duration_since(**at) >= stale_after).map(|(id, _)| id.clone()).collect();
                for orchestrator in gone {
                    tracing::info!(%orchestrator, "no slot advert for a while; taking the orchestrator for gone");
                    heard.remove(&orchestrator);
                    board.send_modify(|board| board.forget(&orchestrator));
                }
            }
        }
    }
}
