use std::collections::HashMap;

use contract::JobEvent;
use ulid::Ulid;

/// What a runner makes of an event it consumed, by `(job_id, attempt, seq)`: the bus delivers
/// at least once, and the orchestrator numbers each attempt's events from 1 without holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next one: report it to the forge.
    Next,
    /// Seen before (a redelivery after a reconnect): ack and drop it.
    Duplicate,
    /// Events are missing before this one; `expected` is the first missing `seq`.
    Gap { expected: u64 },
}

/// The highest `seq` taken so far per job attempt.
#[derive(Debug, Clone, Default)]
pub struct EventOrder {
    high: HashMap<(Ulid, u32), u64>,
}

impl EventOrder {
    /// Classifies `event` and, when it is [`Arrival::Next`], takes it.
    pub fn arrive(&mut self, event: &JobEvent) -> Arrival {
        let high = self.high.entry((event.job_id, event.attempt)).or_insert(0);
        if event.seq <= *high {
            Arrival::Duplicate
        } else if event.seq == *high + 1 {
            *high = event.seq;
            Arrival::Next
        } else {
            Arrival::Gap { expected: *high + 1 }
        }
    }

    /// Forgets a finished job attempt.
    pub fn forget(&mut self, job_id: Ulid, attempt: u32) {
        self.high.remove(&(job_id, attempt));
    }
}
