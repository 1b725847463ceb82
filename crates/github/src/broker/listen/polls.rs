//! The polls under way: the current one, asking with the status the loop wants, and any a
//! change of status superseded.
//!
//! A superseded poll is left to finish rather than dropped. The official runner cancels it
//! (ref §3.3), but a broker that already took a message off the queue for that poll would lose
//! the message with the dropped connection; left running, its message is still handed on.

use tokio::task::{Id, JoinSet};

use crate::broker::{Broker, BrokerError, Message, Session, Status};

/// One poll's answer.
pub(super) struct Answer {
    /// Whether it answers the current poll (else a superseded one).
    pub current: bool,
    /// The status the poll reported.
    pub status: Status,
    pub result: Result<Option<Message>, BrokerError>,
}

#[derive(Default)]
pub(super) struct Polls {
    running: JoinSet<(Status, Result<Option<Message>, BrokerError>)>,
    current: Option<(Id, Status)>,
}

impl Polls {
    /// Makes sure a poll asking with `status` is under way, superseding one that asks with
    /// another status.
    pub fn ensure(&mut self, broker: &Broker, session: &Session, status: Status) {
        if self.current.is_some_and(|(_, polled)| polled == status) {
            return;
        }
        let (broker, session) = (broker.clone(), session.clone());
        let poll = self.running.spawn(async move { (status, broker.poll(&session, status).await) });
        self.current = Some((poll.id(), status));
    }

    /// The next answer of any poll under way; pending while none is.
    pub async fn next(&mut self) -> Answer {
        let Some(joined) = self.running.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let (id, (status, result)) = match joined {
            Ok(answered) => answered,
            Err(error) => {
                // A poll task that panicked: counted as an empty answer, never as a message.
                tracing::error!(%error, "a broker poll task failed");
                let status = self.current.map_or(Status::Online, |(_, status)| status);
                (error.id(), (status, Ok(None)))
            }
        };
        let current = self.current.is_some_and(|(current, _)| current == id);
        if current {
            self.current = None;
        }
        Answer { current, status, result }
    }
}
