//! The daemon's hold on its lease (brief §3.5), and when it lets go: a daemon that can no
//! longer renew its lease must stop running jobs before the lease expires, because from then on
//! a peer may take its attempts over and fail them while their VMs would still be running here.
//!
//! **Timing.** With a lease ttl of `T`, the lease is renewed every `T/3`. Each renewal writes
//! `expires_at = now + T`, where `now` is read after the monotonic instant this module keeps as
//! "renewed at", so the lease in the store never runs out before `renewed at + T`. After a
//! failed renewal it is retried every `T/15` (each try bounded by what is left of the budget).
//! The budget is `T/2` without a successful renewal: then [`hold`] returns and the daemon exits
//! at once with code 3 (brief §3.7), its VMs and agents dying with it (their processes get
//! `PR_SET_PDEATHSIG`). That leaves the other half of the ttl, 15 s with the default of 30 s, for
//! the process to end before any peer may take over. The first renewal counts from an instant
//! taken before the orchestrator wrote its first heartbeat, so it is conservative too.
//!
//! The orchestrator library renews the same lease on its own schedule but only logs a failure;
//! renewing it here as well is harmless (a heartbeat only pushes `expires_at` forward) and tells
//! the daemon when the lease was last made good.

use std::sync::Arc;
use std::time::Duration;

use store::{Store, StoreError};
use tokio::time::Instant;

/// The lease went unrenewed for half its ttl.
#[derive(Debug)]
pub(crate) struct LeaseLost {
    /// Since the start of the last renewal that succeeded.
    pub unrenewed_for: Duration,
    pub ttl: Duration,
    /// Why the last try failed; `None` when it did not answer within the budget.
    pub last_error: Option<StoreError>,
}

/// How a lease of `ttl` is kept: see the module's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeasePolicy {
    pub ttl: Duration,
    pub renew_every: Duration,
    pub retry_every: Duration,
    pub budget: Duration,
}

impl LeasePolicy {
    pub(crate) fn for_ttl(ttl: Duration) -> LeasePolicy {
        LeasePolicy {
            ttl,
            renew_every: (ttl / 3).max(Duration::from_millis(50)),
            retry_every: (ttl / 15).max(Duration::from_millis(50)),
            budget: ttl / 2,
        }
    }
}

/// Renews the lease of `orchestrator_id` until it cannot for the policy's budget, then returns
/// why. `leased_at` is an instant no later than the lease's last renewal.
pub(crate) async fn hold(
    store: Arc<dyn Store>,
    orchestrator_id: String,
    policy: LeasePolicy,
    leased_at: Instant,
) -> LeaseLost {
    let ttl = time::Duration::try_from(policy.ttl).unwrap_or(time::Duration::seconds(30));
    let mut renewed_at = leased_at;
    let mut last_error = None;
    let mut next = Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let give_up_at = renewed_at + policy.budget;
        let started = Instant::now();
        if started >= give_up_at {
            return LeaseLost { unrenewed_for: started - renewed_at, ttl: policy.ttl, last_error };
        }
        let renewal = store.heartbeat(&orchestrator_id, time::OffsetDateTime::now_utc(), ttl);
        match tokio::time::timeout_at(give_up_at, renewal).await {
            Ok(Ok(_)) => {
                if last_error.take().is_some() {
                    tracing::info!("the lease is renewed again");
                }
                renewed_at = started;
                next = started + policy.renew_every;
            }
            Ok(Err(error)) => {
                let left = give_up_at.saturating_duration_since(Instant::now());
                tracing::warn!(%error, left_ms = left.as_millis() as u64, "renewing the lease failed; retrying");
                last_error = Some(error);
                next = Instant::now() + policy.retry_every;
            }
            // The budget ran out during the try: the next pass gives up.
            Err(_) => next = Instant::now(),
        }
    }
}
