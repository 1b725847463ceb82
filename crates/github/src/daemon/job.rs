//! One job of one registration, from the broker's `RunnerJobRequest` to `completejob`
//! (ref §4): acquire, renew before the start, translate, save, publish, then follow the job's
//! events into its report while the lease is kept and GitHub's cancellation is relayed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, BusError, Cancel};
use contract::BusKey;
use store::Store;
use time::OffsetDateTime;
use tokio::sync::watch;
use ulid::Ulid;

use super::routes::{Follow, Routes, ack_saved};
use super::saved::{SavedJob, StoreCheckpoint};
use crate::broker::JobRequestRef;
use crate::job::{Completion, Conclusion, JobContext};
use crate::report::{JobReport, ReportConfig, ReportEnd};
use crate::run_service::{AcquireError, LeaseConfig, RunService, keep_renewing, renew_before_start};
use crate::translate::{TranslateSettings, job_context, translate};

/// Publish attempts for errors other than "no orchestrator serves the label".
const PUBLISH_ATTEMPTS: u32 = 5;

/// What every job of one registration shares.
pub struct JobEnv<B: Bus> {
    pub bus: B,
    pub store: Arc<dyn Store>,
    pub bus_key: BusKey,
    /// The registration's runner id on the bus: its events queue and `origin.runner_id`.
    pub runner_id: String,
    /// The catalog label its jobs are routed by.
    pub label: String,
    pub run_service: RunService,
    pub routes: Routes,
    pub lease: LeaseConfig,
    pub report: ReportConfig,
    /// Where the reports spool their logs (`<dir>/<GitHub job id>/`), kept across restarts.
    pub spool_dir: PathBuf,
}

/// How a job's handling ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// completejob was sent (or tried) with this conclusion.
    Completed(Conclusion),
    /// The job never became ours (acquire skipped or failed, the first renewal failed).
    Dropped,
    /// The daemon stopped following it (shutdown); its state stays saved for the next start.
    Detached,
    /// OAuth refused the runner's credentials: the registration is gone.
    RegistrationGone(String),
}

/// The `forge` label of this runner's metrics.
const FORGE: &str = "github";

/// Takes the job the broker offered and runs it to its end. `cancel` carries GitHub's
/// cancellation (the reason) once it arrives.
pub async fn take<B: Bus>(
    env: Arc<JobEnv<B>>,
    request: JobRequestRef,
    cancel: watch::Receiver<Option<String>>,
) -> JobEnd {
    let _running = telemetry::runner::Running::start(FORGE);
    let message = match env.run_service.acquire(&request).await {
        Ok(message) => message,
        Err(error @ AcquireError::Skip { .. }) => {
            tracing::info!(job = %request.id, error = %crate::error_chain(&error), "the job is not ours to run");
            return JobEnd::Dropped;
        }
        Err(error) if error.registration_gone() => return JobEnd::RegistrationGone(crate::error_chain(&error)),
        Err(error) => {
            tracing::warn!(job = %request.id, error = %crate::error_chain(&error), "could not acquire the job");
            return JobEnd::Dropped;
        }
    };
    let context = match job_context(&message) {
        Ok(context) => context,
        Err(error) => {
            // Without the job token nothing can be reported, not even the failure.
            tracing::error!(job = %request.id, %error, "the acquired job message names no job to report to; dropping it");
            return JobEnd::Dropped;
        }
    };
    // ref §4.3: the job starts only once its lease was renewed.
    let locked_until = match renew_before_start(&env.run_service, &context, &env.lease).await {
        Ok(until) => until,
        Err(error) => {
            tracing::warn!(job = %context.job_id, error = %crate::error_chain(&error), "the job's lease could not be renewed; not starting it");
            return JobEnd::Dropped;
        }
    };
    let job_ulid = Ulid::new();
    let settings = TranslateSettings {
        runner_id: env.runner_id.clone(),
        route_label: env.label.clone(),
        bus_key: &env.bus_key,
        job_ulid,
    };
    let translated = match translate(&message, &settings) {
        Ok(translated) => translated,
        Err(error) => {
            tracing::warn!(job = %context.job_id, %error, "the job cannot run; failing it");
            return fail(&env, &context, &error.to_string(), None).await;
        }
    };
    let context = translated.context;
    let report = JobReport::new(context.clone(), env.spool_dir.clone(), env.report.clone());
    let checkpoint = StoreCheckpoint {
        store: env.store.clone(),
        runner_id: env.runner_id.clone(),
        context: context.clone(),
        job_ulid,
    };
    // Saved before the publish: a runner that dies right after publishing still knows the job.
    if let Err(error) = checkpoint.put(&report.state()).await {
        let reason = format!("the runner could not save the job's state: {}", crate::error_chain(&error));
        return fail(&env, &context, &reason, None).await;
    }
    // The route exists before the publish, so no early event finds the job unknown.
    let follow = env.routes.add(job_ulid);
    if let Err(error) = publish(&env.bus, &translated.request).await {
        env.routes.remove(job_ulid);
        let reason = match &error {
            BusError::NoConsumer { label, .. } => format!("no orchestrator serves label {label}"),
            other => format!("the job could not be handed to an orchestrator: {}", crate::error_chain(other)),
        };
        return fail(&env, &context, &reason, Some(&checkpoint)).await;
    }
    tracing::info!(job = %context.job_id, %job_ulid, label = %env.label, "published the job");
    follow_job(env, report, follow, checkpoint, locked_until, cancel).await
}

/// Follows a job an earlier run of this registration saved. Its route must have been made
/// before the events consumer started ([`Routes::add`]).
pub async fn resume<B: Bus>(
    env: Arc<JobEnv<B>>,
    saved: SavedJob,
    follow: Follow,
    cancel: watch::Receiver<Option<String>>,
) -> JobEnd {
    let _running = telemetry::runner::Running::start(FORGE);
    tracing::info!(job = %saved.context.job_id, job_ulid = %saved.job_ulid, "resuming a job saved by an earlier run");
    let report = JobReport::restore(saved.context.clone(), saved.report, env.spool_dir.clone(), env.report.clone());
    let checkpoint = StoreCheckpoint {
        store: env.store.clone(),
        runner_id: env.runner_id.clone(),
        context: saved.context,
        job_ulid: saved.job_ulid,
    };
    // The lease was last renewed before the restart; the first renewal comes one interval on.
    follow_job(env, report, follow, checkpoint, OffsetDateTime::now_utc(), cancel).await
}

async fn follow_job<B: Bus>(
    env: Arc<JobEnv<B>>,
    report: JobReport,
    follow: Follow,
    mut checkpoint: StoreCheckpoint,
    locked_until: OffsetDateTime,
    mut cancel: watch::Receiver<Option<String>>,
) -> JobEnd {
    let job_ulid = checkpoint.job_ulid;
    let context = checkpoint.context.clone();
    let report_cancel = report.cancel_handle();
    let (done_tx, done) = watch::channel(None);
    let acker = tokio::spawn(ack_saved(follow.acks, report.saved_mark(), done));
    let lease = keep_renewing(env.run_service.clone(), context.clone(), locked_until, env.lease.clone());
    tokio::pin!(lease);
    let end = {
        let run = report.run(follow.events, &mut checkpoint);
        tokio::pin!(run);
        let (mut lease_open, mut cancel_open) = (true, true);
        loop {
            tokio::select! {
                end = &mut run => break end,
                lost = &mut lease, if lease_open => {
                    lease_open = false;
                    tracing::warn!(job = %context.job_id, reason = %lost.reason, "the job's lease is lost; cancelling it");
                    cancel_on_bus(&env.bus, job_ulid, &format!("the job's lease was lost: {}", lost.reason)).await;
                    report_cancel.send_replace(true);
                }
                changed = cancel.changed(), if cancel_open => {
                    let reason = cancel.borrow_and_update().clone();
                    match (changed, reason) {
                        (Ok(()), Some(reason)) => {
                            tracing::info!(job = %context.job_id, %reason, "cancelling the job on the bus");
                            cancel_on_bus(&env.bus, job_ulid, &reason).await;
                            report_cancel.send_replace(true);
                            cancel_open = false;
                        }
                        (Ok(()), None) => {}
                        (Err(_), _) => cancel_open = false,
                    }
                }
            }
        }
    };
    env.routes.remove(job_ulid);
    match end {
        ReportEnd::Completed(completion) => {
            let _ = done_tx.send(Some(true));
            let _ = acker.await;
            if completion.conclusion != Conclusion::Succeeded {
                // A report that ended on the orchestrator's silence, a lost lease or GitHub's
                // cancel leaves a job that may still run somewhere; a cancel of a finished job
                // is a no-op.
                cancel_on_bus(&env.bus, job_ulid, "the job's report ended").await;
            }
            complete(&env, &context, &completion).await;
            checkpoint.remove().await;
            remove_spool(&env.spool_dir, &context.job_id);
            JobEnd::Completed(completion.conclusion)
        }
        ReportEnd::Detached => {
            let _ = done_tx.send(Some(false));
            let _ = acker.await;
            tracing::info!(job = %context.job_id, "left the job's report for the next start");
            JobEnd::Detached
        }
    }
}

/// A job that never ran: its failure reported and completed.
async fn fail<B: Bus>(env: &JobEnv<B>, context: &JobContext, reason: &str, saved: Option<&StoreCheckpoint>) -> JobEnd {
    tracing::warn!(job = %context.job_id, reason, "failing the job");
    let completion =
        JobReport::fail_without_events(context.clone(), reason, env.spool_dir.clone(), env.report.clone()).await;
    complete(env, context, &completion).await;
    if let Some(saved) = saved {
        saved.remove().await;
    }
    remove_spool(&env.spool_dir, &context.job_id);
    JobEnd::Completed(completion.conclusion)
}

async fn complete<B: Bus>(env: &JobEnv<B>, context: &JobContext, completion: &Completion) {
    match env.run_service.complete(context, completion).await {
        Ok(()) => {
            tracing::info!(job = %context.job_id, conclusion = ?completion.conclusion, "completed the job");
            telemetry::runner::job_ended(FORGE, &format!("{:?}", completion.conclusion).to_ascii_lowercase());
        }
        Err(error) => {
            tracing::error!(job = %context.job_id, error = %crate::error_chain(&error), "could not complete the job");
            telemetry::runner::job_ended(FORGE, "unreported");
        }
    }
}

async fn cancel_on_bus<B: Bus>(bus: &B, job_id: Ulid, reason: &str) {
    let cancel = Cancel { job_id, attempt: None, reason: reason.to_owned() };
    if let Err(error) = bus.publish_cancel(&cancel).await {
        tracing::warn!(%job_id, error = %crate::error_chain(&error), "could not cancel the job on the bus");
    }
}

async fn publish<B: Bus>(bus: &B, request: &contract::JobRequest) -> Result<(), BusError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match bus.publish_job(request).await {
            Ok(()) => return Ok(()),
            Err(error @ BusError::NoConsumer { .. }) => return Err(error),
            Err(error) if attempt < PUBLISH_ATTEMPTS => {
                tracing::warn!(job_id = %request.job_id, attempt, error = %crate::error_chain(&error), "publishing the job failed; trying again");
                telemetry::runner::bus_error(FORGE);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(16));
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The job's spooled logs, uploaded by now: removed (best effort).
fn remove_spool(spool_dir: &std::path::Path, job_id: &str) {
    let dir = spool_dir.join(job_id);
    if let Err(error) = std::fs::remove_dir_all(&dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), %error, "could not remove the job's spooled logs");
    }
}
