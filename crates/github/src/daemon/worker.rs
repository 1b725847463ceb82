//! One registration at work: its broker session listened on, its job requests taken one at a
//! time, GitHub's cancellations relayed to the job, its status kept at `Busy` while it holds a
//! job (or no orchestrator has a free slot for its label) and `Online` otherwise (ref §3.3).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, SlotBoard};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::job::{self, JobEnd, JobEnv};
use super::saved;
use crate::broker::{Broker, ListenConfig, ListenError, Message, SessionRequest, Status, listen};
use crate::files::Registration;

/// Why a registration stopped working before shutdown.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("use the registration {name}: GitHub no longer knows it ({reason}); remove it and configure it again")]
    RegistrationGone { name: String, reason: String },
    #[error("listen for the jobs of {name}")]
    Listen {
        name: String,
        #[source]
        source: ListenError,
    },
    #[error("consume the job events of {name}")]
    Bus {
        name: String,
        #[source]
        source: bus::BusError,
    },
    #[error("follow the job events of {name}: the broker went away for good")]
    EventsLost { name: String },
    #[error("read the saved jobs of {name}")]
    Store {
        name: String,
        #[source]
        source: store::StoreError,
    },
}

/// How a registration's work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerEnd {
    /// Shutdown: its session deleted, its running jobs finished or left saved.
    Stopped,
    /// An ephemeral registration ran its job (or GitHub deleted it): its files are gone.
    Unregistered,
}

/// One registration and what it runs with.
pub struct Worker<B: Bus> {
    pub dir: PathBuf,
    pub registration: Registration,
    pub broker: Broker,
    pub env: Arc<JobEnv<B>>,
    pub listen: ListenConfig,
    pub shutdown_timeout: Duration,
}

/// A running job's cancel relay, by GitHub job id (lower case).
type Cancels = HashMap<String, watch::Sender<Option<String>>>;

impl<B: Bus> Worker<B> {
    /// Resumes the registration's saved jobs, listens for new ones until `shutdown` turns true,
    /// then drains: no new job, running ones get `shutdown_timeout` to finish, then are
    /// cancelled, then (after the report's cancel grace) left saved for the next start.
    pub async fn run(
        self,
        mut board: watch::Receiver<SlotBoard>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<WorkerEnd, WorkerError> {
        let name = self.registration.agent_name.clone();
        let env = self.env.clone();
        let mut jobs: JoinSet<(String, JobEnd)> = JoinSet::new();
        let mut cancels = Cancels::new();
        let saved = saved::load_all(&*env.store, &env.runner_id)
            .await
            .map_err(|source| WorkerError::Store { name: name.clone(), source })?;
        for record in saved {
            // Routed before the consumer starts, so the job's redelivered events find it.
            let follow = env.routes.add(record.job_ulid);
            let id = record.context.job_id.to_lowercase();
            let (tx, rx) = watch::channel(None);
            cancels.insert(id.clone(), tx);
            let env = env.clone();
            jobs.spawn(async move { (id, job::resume(env, record, follow, rx).await) });
        }
        let consumer = env
            .bus
            .consume_events(&env.runner_id)
            .await
            .map_err(|source| WorkerError::Bus { name: name.clone(), source })?;
        let routes = env.routes.clone();
        let (lost_tx, mut events_lost) = tokio::sync::oneshot::channel::<()>();
        let consuming = tokio::spawn(async move {
            let error = routes.consume(consumer).await;
            tracing::error!(error = %crate::error_chain(&error), "consuming the job events failed");
            let _ = lost_tx.send(());
        });
        let (status_tx, status_rx) = watch::channel(Status::Busy);
        let (messages_tx, mut messages) = mpsc::channel::<Message>(8);
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let listener = {
            let broker = self.broker.clone();
            let request = SessionRequest::new(self.registration.agent_id, self.registration.agent_name.clone());
            let config = self.listen.clone();
            tokio::spawn(async move {
                let stop = async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                };
                listen(&broker, &request, &config, status_rx, messages_tx, stop).await
            })
        };
        let ephemeral = self.registration.ephemeral;
        let mut state = Drain::default();
        let mut end = WorkerEnd::Stopped;
        let mut failure: Option<WorkerError> = None;
        let mut last_status: Option<Status> = None;
        let mut force_status = false;
        let mut listening = true;
        loop {
            let free = board.borrow().free(&env.label) > 0;
            let want = if state.draining || !jobs.is_empty() || !free { Status::Busy } else { Status::Online };
            if force_status || last_status != Some(want) {
                status_tx.send_replace(want);
                last_status = Some(want);
                force_status = false;
            }
            if state.draining && jobs.is_empty() {
                break;
            }
            let deadline = state.deadline;
            tokio::select! {
                message = messages.recv(), if listening => match message {
                    Some(Message::RunnerJobRequest(request)) => {
                        force_status = true;
                        if state.draining || !jobs.is_empty() {
                            tracing::warn!(job = %request.id, "offered a job while busy or stopping; leaving it to GitHub");
                            continue;
                        }
                        tracing::info!(job = %request.id, "GitHub offered a job");
                        let id = request.id.to_lowercase();
                        let (tx, rx) = watch::channel(None);
                        cancels.insert(id.clone(), tx);
                        let env = env.clone();
                        jobs.spawn(async move { (id, job::take(env, request, rx).await) });
                    }
                    Some(Message::JobCancellation { job_id }) => match cancels.get(&job_id.to_lowercase()) {
                        Some(cancel) => {
                            cancel.send_replace(Some("the job was cancelled on GitHub".to_owned()));
                        }
                        None => tracing::debug!(job = %job_id, "a cancellation of a job this runner does not run"),
                    },
                    Some(Message::RunnerShutdown { reason }) => {
                        tracing::info!(%reason, "GitHub asks the runner to stop");
                        state.start(self.shutdown_timeout);
                    }
                    Some(Message::ForceTokenRefresh | Message::Ignored { .. }) => {}
                    None => {
                        listening = false;
                        state.start(self.shutdown_timeout);
                    }
                },
                Some(joined) = jobs.join_next() => {
                    let Ok((id, job_end)) = joined else { continue };
                    cancels.remove(&id);
                    match job_end {
                        JobEnd::RegistrationGone(reason) if ephemeral => {
                            tracing::info!(%reason, "the ephemeral registration is gone on GitHub");
                            end = WorkerEnd::Unregistered;
                            state.start(self.shutdown_timeout);
                        }
                        JobEnd::RegistrationGone(reason) => {
                            failure.get_or_insert(WorkerError::RegistrationGone { name: name.clone(), reason });
                            state.start(self.shutdown_timeout);
                        }
                        JobEnd::Completed(_) if ephemeral => {
                            // ref §1.6: GitHub deletes an ephemeral runner after its one job.
                            end = WorkerEnd::Unregistered;
                            state.start(self.shutdown_timeout);
                        }
                        JobEnd::Completed(_) | JobEnd::Dropped | JobEnd::Detached => {}
                    }
                }
                _ = board.changed() => {}
                changed = shutdown.changed(), if !state.draining => {
                    if changed.is_err() || *shutdown.borrow() {
                        state.start(self.shutdown_timeout);
                    }
                }
                _ = &mut events_lost, if !state.events_lost => {
                    state.events_lost = true;
                    failure.get_or_insert(WorkerError::EventsLost { name: name.clone() });
                    state.start(self.shutdown_timeout);
                }
                () = sleep_until(deadline) => match state.phase {
                    Phase::Waiting => {
                        tracing::warn!(jobs = jobs.len(), "running jobs did not finish within the shutdown timeout; cancelling them");
                        for cancel in cancels.values() {
                            cancel.send_replace(Some("the runner is shutting down".to_owned()));
                        }
                        state.phase = Phase::Cancelling;
                        state.deadline = Some(Instant::now() + env.report.cancel_grace + Duration::from_secs(10));
                    }
                    Phase::Cancelling => {
                        tracing::warn!("cancelled jobs did not end; leaving their reports for the next start");
                        env.routes.clear();
                        state.deadline = None;
                    }
                },
            }
        }
        let _ = stop_tx.send(true);
        drop(messages);
        let listened = listener.await;
        consuming.abort();
        match listened {
            Ok(Err(error)) if error.registration_gone() && ephemeral => end = WorkerEnd::Unregistered,
            Ok(Err(error)) if error.registration_gone() => {
                failure.get_or_insert(WorkerError::RegistrationGone {
                    name: name.clone(),
                    reason: crate::error_chain(&error),
                });
            }
            Ok(Err(source)) => {
                failure.get_or_insert(WorkerError::Listen { name: name.clone(), source });
            }
            Ok(Ok(())) | Err(_) => {}
        }
        if end == WorkerEnd::Unregistered {
            match crate::registration::forget(&self.dir) {
                Ok(()) => tracing::info!(runner = %name, "the ephemeral runner is done; its files are removed"),
                Err(error) => {
                    tracing::warn!(error = %crate::error_chain(&error), "could not remove the ephemeral runner's files")
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(end),
        }
    }
}

/// Where a registration's shutdown is.
#[derive(Default)]
struct Drain {
    draining: bool,
    events_lost: bool,
    phase: Phase,
    deadline: Option<Instant>,
}

#[derive(Default)]
enum Phase {
    #[default]
    Waiting,
    Cancelling,
}

impl Drain {
    fn start(&mut self, grace: Duration) {
        if !self.draining {
            self.draining = true;
            self.deadline = Some(Instant::now() + grace);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
