//! Random waits between retries. GitHub's clients jitter every retry (ref §3.7, §4.3, §6) so that
//! many runners cut off by one outage do not come back in lockstep.

use std::time::Duration;

/// A wait picked at random between `min` and `max` for each retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    /// A backoff between two whole numbers of seconds, as the reference gives them.
    pub const fn seconds(min: u64, max: u64) -> Self {
        Self { min: Duration::from_secs(min), max: Duration::from_secs(max) }
    }

    /// A fixed wait, for tests and for retries the reference spaces evenly (completejob).
    pub const fn fixed(wait: Duration) -> Self {
        Self { min: wait, max: wait }
    }

    /// One wait in `[min, max]`. The randomness comes from a v4 UUID (the OS generator) rather
    /// than a new dependency; it only spreads retries, it guards nothing.
    pub fn pick(&self) -> Duration {
        let span = self.max.saturating_sub(self.min);
        if span.is_zero() {
            return self.min;
        }
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let mut random = [0u8; 8];
        random.copy_from_slice(&bytes[..8]);
        let fraction = (u64::from_le_bytes(random) >> 11) as f64 / (1u64 << 53) as f64;
        self.min + span.mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_stay_within_the_range_and_vary() {
        let backoff = Backoff::seconds(15, 30);
        let picks: Vec<Duration> = (0..200).map(|_| backoff.pick()).collect();
        assert!(picks.iter().all(|p| *p >= backoff.min && *p <= backoff.max));
        assert!(picks.iter().any(|p| *p != picks[0]), "200 picks were all {:?}", picks[0]);
    }

    #[test]
    fn a_fixed_backoff_always_waits_the_same() {
        let wait = Duration::from_millis(40);
        assert_eq!(Backoff::fixed(wait).pick(), wait);
    }
}
