//! The free slots orchestrators advertise for this runner's labels (brief §3.4), kept as one
//! number the fetch loop's [`crate::fetch::Room`] watches.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{Consumer, FreeSlots, SlotBoard};
use tokio::sync::watch;
use tokio::time::Instant;

/// Orchestrators advertise every 10 s; one silent for this long is taken for gone, so a crashed
/// orchestrator's last advert does not keep the runner fetching work nobody will run.
pub const STALE_AFTER: Duration = Duration::from_secs(35);

/// Keeps `free` at the sum of the free slots advertised for `labels` by every orchestrator
/// heard from within `stale_after`. Returns when the advert consumer fails, with `free` at 0.
pub async fn track_free_slots<C: Consumer<FreeSlots>>(
    mut slots: C,
    labels: Vec<String>,
    free: watch::Sender<u32>,
    stale_after: Duration,
) {
    let mut board = SlotBoard::default();
    let mut heard: BTreeMap<String, Instant> = BTreeMap::new();
    let total = |board: &SlotBoard| labels.iter().fold(0u32, |sum, label| sum.saturating_add(board.free(label)));
    loop {
        let oldest = heard.values().min().copied();
        let delivery = tokio::select! {
            delivery = slots.next() => delivery,
            () = sleep_until_stale(oldest, stale_after) => {
                let now = Instant::now();
                heard.retain(|orchestrator, at| {
                    let fresh = now.duration_since(*at) < stale_after;
                    if !fresh {
                        tracing::info!(%orchestrator, "no slot advert for a while; taking the orchestrator for gone");
                        board.forget(orchestrator);
                    }
                    fresh
                });
                free.send_replace(total(&board));
                continue;
            }
        };
        match delivery {
            Ok(delivery) => {
                board.record(&delivery.payload);
                heard.insert(delivery.payload.orchestrator_id.clone(), Instant::now());
                free.send_replace(total(&board));
                if let Err(error) = delivery.acker.ack().await {
                    tracing::debug!(error = %crate::error_chain(&error), "could not ack a slot advert");
                }
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "slot adverts stopped; no more fetching");
                free.send_replace(0);
                return;
            }
        }
    }
}

async fn sleep_until_stale(oldest: Option<Instant>, stale_after: Duration) {
    match oldest {
        Some(at) => tokio::time::sleep_until(at + stale_after).await,
        None => std::future::pending().await,
    }
}
