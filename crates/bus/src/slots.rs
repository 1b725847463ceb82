use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An orchestrator's free slots per label, fanned out to every runner (`solstice.slots`).
///
/// Orchestrators publish one whenever their free slots change and again periodically; a runner
/// keeps the latest advert per orchestrator (see [`SlotBoard`]) and fetches work from its forge
/// only for labels that have room somewhere. Adverts are hints, not reservations: the job queue's
/// credit is what really bounds how many jobs an orchestrator takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreeSlots {
    /// The advertising orchestrator's stable id.
    pub orchestrator_id: String,
    /// Free slots per catalog label; a label it serves with no room is listed with 0.
    pub labels: BTreeMap<String, u32>,
}

/// The latest [`FreeSlots`] of every orchestrator a runner heard from.
#[derive(Debug, Clone, Default)]
pub struct SlotBoard {
    latest: BTreeMap<String, BTreeMap<String, u32>>,
}

impl SlotBoard {
    /// Replaces what the board knew about the advert's orchestrator.
    pub fn record(&mut self, advert: &FreeSlots) {
        self.latest.insert(advert.orchestrator_id.clone(), advert.labels.clone());
    }

    /// Forgets an orchestrator (for example after its adverts stopped coming).
    pub fn forget(&mut self, orchestrator_id: &str) {
        self.latest.remove(orchestrator_id);
    }

    /// Free slots for `label` over every orchestrator heard from.
    pub fn free(&self, label: &str) -> u32 {
        self.latest.values().filter_map(|labels| labels.get(label)).fold(0u32, |sum, n| sum.saturating_add(*n))
    }
}
