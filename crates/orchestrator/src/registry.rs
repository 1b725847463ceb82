use std::collections::{HashMap, HashSet};

use contract::CancelRequest;
use tokio::sync::mpsc;
use ulid::Ulid;

/// The jobs this orchestrator knows: which attempts started, which run now (and how to tell them
/// about a cancel), and the tombstones of cancelled jobs so a job still queued never starts.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    running: HashMap<Ulid, Running>,
    started: HashSet<(Ulid, u32)>,
    tombstones: HashMap<Ulid, CancelRequest>,
}

#[derive(Debug)]
struct Running {
    attempt: u32,
    cancel: mpsc::UnboundedSender<String>,
}

/// Whether a job may start.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Run it; cancel reasons arrive on the receiver.
    Run(mpsc::UnboundedReceiver<String>),
    /// A cancel came first; its reason.
    Cancelled(String),
    /// This attempt started before (a redelivery): it cannot be resumed.
    AlreadyStarted,
}

impl Registry {
    pub fn admit(&mut self, job_id: Ulid, attempt: u32) -> Admission {
        if let Some(cancel) = self.tombstones.get(&job_id).filter(|c| c.applies_to(job_id, attempt)) {
            return Admission::Cancelled(cancel.reason.clone());
        }
        if !self.started.insert((job_id, attempt)) {
            return Admission::AlreadyStarted;
        }
        let (cancel, reasons) = mpsc::unbounded_channel();
        self.running.insert(job_id, Running { attempt, cancel });
        Admission::Run(reasons)
    }

    pub fn release(&mut self, job_id: Ulid) {
        self.running.remove(&job_id);
    }

    pub fn is_running(&self, job_id: Ulid, attempt: u32) -> bool {
        self.running.get(&job_id).is_some_and(|running| running.attempt == attempt)
    }

    pub fn is_tombstoned(&self, job_id: Ulid) -> bool {
        self.tombstones.contains_key(&job_id)
    }

    /// Records the tombstone and tells the running attempt, if there is one here.
    pub fn cancel(&mut self, cancel: &CancelRequest) -> bool {
        self.tombstones.insert(cancel.job_id, cancel.clone());
        match self.running.get(&cancel.job_id) {
            Some(running) if cancel.applies_to(cancel.job_id, running.attempt) => {
                running.cancel.send(cancel.reason.clone()).is_ok()
            }
            _ => false,
        }
    }
}
