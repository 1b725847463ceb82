use std::collections::{BTreeMap, HashMap, VecDeque};

use contract::{JobEvent, JobRequest};

use crate::acker::Verdict;
use crate::{BusError, Cancel, FreeSlots};

/// Every queue of the in-process bus and every delivery not yet settled.
#[derive(Default)]
pub(crate) struct State {
    /// One queue per declared label; a label is routable once declared.
    jobs: HashMap<String, VecDeque<Queued<JobRequest>>>,
    /// One queue per runner id, created by whichever comes first: publisher or consumer.
    events: HashMap<String, VecDeque<Queued<JobEvent>>>,
    /// One queue per cancel subscriber: named by the subscriber's id and kept while it is away
    /// ([`crate::Bus::consume_cancels`]), or named after its consumer and gone with it.
    cancels: HashMap<String, VecDeque<Queued<Cancel>>>,
    /// One queue per slot subscriber, likewise.
    slots: HashMap<u64, VecDeque<Queued<FreeSlots>>>,
    consumers: HashMap<u64, ConsumerState>,
    /// By delivery tag, so requeueing in tag order restores publish order.
    unacked: BTreeMap<u64, Unacked>,
    next_id: u64,
}

pub(crate) struct Queued<T> {
    pub payload: T,
    pub redelivered: bool,
}

struct ConsumerState {
    /// Per label, as an AMQP consumer's prefetch is per queue; `None`: no limit (event, cancel
    /// and slot consumers).
    credit: Option<u32>,
    /// Unacked deliveries per label (jobs) or under the empty label (everything else).
    held: HashMap<String, u32>,
    /// The cancel queue that goes when this consumer goes.
    owned_cancel_queue: Option<String>,
}

struct Unacked {
    consumer: u64,
    message: Message,
}

/// A delivered message, kept until settled so it can be queued again.
pub(crate) enum Message {
    Job(Box<JobRequest>),
    Event { runner: String, event: JobEvent },
    Cancel { queue: String, cancel: Cancel },
    Slots { subscriber: u64, slots: FreeSlots },
}

impl Message {
    /// The label whose credit this delivery uses.
    fn label(&self) -> &str {
        match self {
            Message::Job(request) => &request.route_label,
            _ => "",
        }
    }
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn push_job(&mut self, request: JobRequest) -> Result<(), BusError> {
        match self.jobs.get_mut(&request.route_label) {
            Some(queue) => {
                queue.push_back(Queued { payload: request, redelivered: false });
                Ok(())
            }
            None => Err(BusError::NoConsumer { label: request.route_label, job_id: request.job_id }),
        }
    }

    pub fn push_event(&mut self, runner: &str, event: JobEvent) {
        self.events.entry(runner.to_owned()).or_default().push_back(Queued { payload: event, redelivered: false });
    }

    /// Returns how many subscribers the cancel reached.
    pub fn push_cancel(&mut self, cancel: &Cancel) -> usize {
        for queue in self.cancels.values_mut() {
            queue.push_back(Queued { payload: cancel.clone(), redelivered: false });
        }
        self.cancels.len()
    }

    /// Returns how many subscribers the advert reached.
    pub fn push_slots(&mut self, slots: &FreeSlots) -> usize {
        for queue in self.slots.values_mut() {
            queue.push_back(Queued { payload: slots.clone(), redelivered: false });
        }
        self.slots.len()
    }

    pub fn add_job_consumer(&mut self, labels: &[String], credit: u32) -> u64 {
        for label in labels {
            self.jobs.entry(label.clone()).or_default();
        }
        self.add_consumer(Some(credit))
    }

    pub fn add_event_consumer(&mut self, runner: &str) -> u64 {
        self.events.entry(runner.to_owned()).or_default();
        self.add_consumer(None)
    }

    /// A subscriber of the cancel queue `name`, declaring it, or of a queue of its own that
    /// goes with it. Returns the consumer id and the queue's name.
    pub fn add_cancel_subscriber(&mut self, name: Option<&str>) -> (u64, String) {
        let id = self.add_consumer(None);
        let queue = match name {
            Some(name) => name.to_owned(),
            None => {
                // `#` cannot start a subscriber id the bus hands out, so no clash with a named one.
                let queue = format!("#{id}");
                if let Some(consumer) = self.consumers.get_mut(&id) {
                    consumer.owned_cancel_queue = Some(queue.clone());
                }
                queue
            }
        };
        self.cancels.entry(queue.clone()).or_default();
        (id, queue)
    }

    pub fn add_slot_subscriber(&mut self) -> u64 {
        let id = self.add_consumer(None);
        self.slots.insert(id, VecDeque::new());
        id
    }

    fn add_consumer(&mut self, credit: Option<u32>) -> u64 {
        let id = self.next_id();
        self.consumers.insert(id, ConsumerState { credit, held: HashMap::new(), owned_cancel_queue: None });
        id
    }

    pub fn queued_jobs(&self, label: &str) -> Option<usize> {
        self.jobs.get(label).map(VecDeque::len)
    }

    pub fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// Whether `consumer` may take one more delivery of `label`.
    fn has_credit(&self, consumer: u64, label: &str) -> bool {
        self.consumers
            .get(&consumer)
            .is_some_and(|c| c.credit.is_none_or(|credit| c.held.get(label).copied().unwrap_or(0) < credit))
    }

    /// Takes the next job for `consumer` from the first non-empty queue among `labels` that
    /// still has credit, starting at `*cursor` so that busy labels do not starve the others.
    pub fn take_job(
        &mut self,
        consumer: u64,
        labels: &[String],
        cursor: &mut usize,
    ) -> Option<(u64, Queued<JobRequest>)> {
        for offset in 0..labels.len() {
            let index = (*cursor + offset) % labels.len();
            if !self.has_credit(consumer, &labels[index]) {
                continue;
            }
            let Some(queued) = self.jobs.get_mut(&labels[index]).and_then(VecDeque::pop_front) else { continue };
            *cursor = index + 1;
            let tag = self.record(consumer, Message::Job(Box::new(queued.payload.clone())));
            return Some((tag, queued));
        }
        None
    }

    pub fn take_event(&mut self, consumer: u64, runner: &str) -> Option<(u64, Queued<JobEvent>)> {
        let queued = self.events.get_mut(runner)?.pop_front()?;
        let message = Message::Event { runner: runner.to_owned(), event: queued.payload.clone() };
        Some((self.record(consumer, message), queued))
    }

    pub fn take_cancel(&mut self, consumer: u64, queue: &str) -> Option<(u64, Queued<Cancel>)> {
        let queued = self.cancels.get_mut(queue)?.pop_front()?;
        let message = Message::Cancel { queue: queue.to_owned(), cancel: queued.payload.clone() };
        Some((self.record(consumer, message), queued))
    }

    pub fn take_slots(&mut self, consumer: u64) -> Option<(u64, Queued<FreeSlots>)> {
        let queued = self.slots.get_mut(&consumer)?.pop_front()?;
        let message = Message::Slots { subscriber: consumer, slots: queued.payload.clone() };
        Some((self.record(consumer, message), queued))
    }

    fn record(&mut self, consumer: u64, message: Message) -> u64 {
        let tag = self.next_id();
        if let Some(c) = self.consumers.get_mut(&consumer) {
            *c.held.entry(message.label().to_owned()).or_default() += 1;
        }
        self.unacked.insert(tag, Unacked { consumer, message });
        tag
    }

    pub fn settle(&mut self, tag: u64, verdict: Verdict) -> Result<(), BusError> {
        let unacked = self.unacked.remove(&tag).ok_or(BusError::ConsumerGone { tag })?;
        if let Some(held) =
            self.consumers.get_mut(&unacked.consumer).and_then(|c| c.held.get_mut(unacked.message.label()))
        {
            *held = held.saturating_sub(1);
        }
        match verdict {
            Verdict::Ack => {}
            Verdict::Requeue => self.requeue(unacked.message),
            Verdict::Reject => tracing::warn!(tag, "delivery rejected and dead-lettered"),
        }
        Ok(())
    }

    /// Forgets a consumer and queues what it held unacked again, in the order it got it.
    pub fn remove_consumer(&mut self, consumer: u64) {
        if let Some(queue) = self.consumers.remove(&consumer).and_then(|c| c.owned_cancel_queue) {
            self.cancels.remove(&queue);
        }
        self.slots.remove(&consumer);
        let tags: Vec<u64> = self.unacked.iter().filter(|(_, u)| u.consumer == consumer).map(|(tag, _)| *tag).collect();
        for tag in tags.into_iter().rev() {
            if let Some(unacked) = self.unacked.remove(&tag) {
                self.requeue(unacked.message);
            }
        }
    }

    /// Back to the front of its queue, marked redelivered.
    fn requeue(&mut self, message: Message) {
        match message {
            Message::Job(request) => {
                let queue = self.jobs.entry(request.route_label.clone()).or_default();
                queue.push_front(Queued { payload: *request, redelivered: true });
            }
            Message::Event { runner, event } => {
                self.events.entry(runner).or_default().push_front(Queued { payload: event, redelivered: true });
            }
            Message::Cancel { queue, cancel } => {
                // A fanout copy belongs to its subscriber's queue alone; gone with it.
                if let Some(queue) = self.cancels.get_mut(&queue) {
                    queue.push_front(Queued { payload: cancel, redelivered: true });
                }
            }
            Message::Slots { subscriber, slots } => {
                if let Some(queue) = self.slots.get_mut(&subscriber) {
                    queue.push_front(Queued { payload: slots, redelivered: true });
                }
            }
        }
    }
}
