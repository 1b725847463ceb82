//! Jobs and attempts: idempotent recording, the queued → started → finished transitions, and
//! what a redelivery or a second orchestrator is told.

use contract::{BusKey, JobResult};
use store::{AttemptState, FinishOutcome, Recorded, StartOutcome, StoreError};
use time::Duration;

use crate::db::TestDb;
use crate::fixture::{A, B, C, at, job_ids, request};

pub async fn records_a_job_and_reads_it_back(db: &mut TestDb) {
    let [job, unknown] = job_ids();
    let sent = request(job, 1);
    assert_eq!(db.store.record_job(&sent, A, at(0)).await.unwrap(), Recorded::New);

    let record = db.store.job(job).await.unwrap().expect("the job was recorded");
    assert_eq!(record.job_id, job);
    assert_eq!(record.attempt, 1);
    assert_eq!(record.state, AttemptState::Queued);
    assert_eq!(record.label, "illumos-latest");
    assert_eq!(record.runner_id, "runner-1");
    assert_eq!(record.recorded_at, at(0));
    assert_eq!(record.request, sent);
    assert_eq!(record.attempts.len(), 1);
    let attempt = &record.attempts[0];
    assert_eq!((attempt.job_id, attempt.attempt), (job, 1));
    assert_eq!(attempt.orchestrator_id, A);
    assert_eq!(attempt.state, AttemptState::Queued);
    assert_eq!(attempt.recorded_at, at(0));
    assert_eq!(
        (attempt.started_at, attempt.finished_at, attempt.result, attempt.error.as_deref()),
        (None, None, None, None)
    );

    assert_eq!(db.store.job(unknown).await.unwrap(), None);
}

pub async fn a_redelivered_request_records_once(db: &mut TestDb) {
    let [job] = job_ids();
    assert_eq!(db.store.record_job(&request(job, 1), A, at(0)).await.unwrap(), Recorded::New);
    let first = db.store.job(job).await.unwrap().unwrap();

    // The redelivery reaches another orchestrator later; nothing about the job changes.
    let again = db.store.record_job(&request(job, 1), B, at(5)).await.unwrap();
    assert_eq!(again, Recorded::Existing(first.attempts[0].clone()));
    assert_eq!(db.store.job(job).await.unwrap().unwrap(), first);
}

pub async fn concurrent_redeliveries_record_once(db: &mut TestDb) {
    let [job] = job_ids();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move { store.record_job(&request(job, 1), &format!("orchestrator-{i}"), at(i)).await })
        })
        .collect();
    let mut new = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Recorded::New => new += 1,
            Recorded::Existing(attempt) => assert_eq!(attempt.state, AttemptState::Queued),
        }
    }
    assert_eq!(new, 1, "exactly one recording is new");
    assert_eq!(db.store.job(job).await.unwrap().unwrap().attempts.len(), 1);
}

pub async fn a_rerun_adds_an_attempt_and_becomes_current(db: &mut TestDb) {
    let [job] = job_ids();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    db.store.start_attempt(job, 1, A, at(1)).await.unwrap();
    db.store.finish_attempt(job, 1, A, JobResult::Failure, Some("exit 1"), at(2)).await.unwrap();

    let mut rerun = request(job, 2);
    rerun.name = "build (re-run)".into();
    assert_eq!(db.store.record_job(&rerun, B, at(10)).await.unwrap(), Recorded::New);
    let record = db.store.job(job).await.unwrap().unwrap();
    assert_eq!((record.attempt, record.state), (2, AttemptState::Queued));
    assert_eq!(record.request, rerun);
    let attempts: Vec<_> = record.attempts.iter().map(|a| (a.attempt, a.state, a.orchestrator_id.as_str())).collect();
    assert_eq!(attempts, [(1, AttemptState::Finished, A), (2, AttemptState::Queued, B)]);

    // A late redelivery of the first attempt neither records again nor becomes current.
    assert!(matches!(db.store.record_job(&request(job, 1), C, at(11)).await.unwrap(), Recorded::Existing(_)));
    assert_eq!(db.store.job(job).await.unwrap().unwrap().request, rerun);
}

pub async fn attempts_go_queued_started_finished(db: &mut TestDb) {
    let [job] = job_ids();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();

    assert_eq!(db.store.start_attempt(job, 1, A, at(1)).await.unwrap(), StartOutcome::Started);
    let record = db.store.job(job).await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Started);
    assert_eq!(record.attempts[0].state, AttemptState::Started);
    assert_eq!(record.attempts[0].started_at, Some(at(1)));

    let finished = db.store.finish_attempt(job, 1, A, JobResult::Failure, Some("step 2 failed"), at(9)).await;
    assert_eq!(finished.unwrap(), FinishOutcome::Finished);
    let record = db.store.job(job).await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Finished);
    let attempt = &record.attempts[0];
    assert_eq!(attempt.state, AttemptState::Finished);
    assert_eq!(attempt.finished_at, Some(at(9)));
    assert_eq!(attempt.result, Some(JobResult::Failure));
    assert_eq!(attempt.error.as_deref(), Some("step 2 failed"));

    // The first finish stands; a finished attempt does not start again.
    let again = db.store.finish_attempt(job, 1, A, JobResult::Success, None, at(10)).await.unwrap();
    assert_eq!(again, FinishOutcome::AlreadyFinished { result: Some(JobResult::Failure) });
    let restart = db.store.start_attempt(job, 1, A, at(11)).await.unwrap();
    assert_eq!(restart, StartOutcome::AlreadyFinished { result: Some(JobResult::Failure) });
    assert_eq!(db.store.job(job).await.unwrap().unwrap(), record);
}

pub async fn a_redelivered_attempt_that_started_is_reported(db: &mut TestDb) {
    let [job] = job_ids();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    db.store.start_attempt(job, 1, A, at(1)).await.unwrap();

    // A died after starting; the broker redelivers the request to B.
    let Recorded::Existing(existing) = db.store.record_job(&request(job, 1), B, at(30)).await.unwrap() else {
        panic!("a redelivery is not new");
    };
    assert_eq!((existing.state, existing.orchestrator_id.as_str()), (AttemptState::Started, A));
    let expected = StartOutcome::AlreadyStarted { orchestrator_id: A.into(), started_at: Some(at(1)) };
    assert_eq!(db.store.start_attempt(job, 1, B, at(30)).await.unwrap(), expected);
    // Its owner is told the same: starting twice is never silent.
    assert_eq!(db.store.start_attempt(job, 1, A, at(31)).await.unwrap(), expected);
}

pub async fn a_queued_attempt_of_a_live_peer_is_left_to_it(db: &mut TestDb) {
    let [job, leaseless] = job_ids();
    db.store.heartbeat(A, at(0), Duration::seconds(30)).await.unwrap();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();

    let outcome = db.store.start_attempt(job, 1, B, at(10)).await.unwrap();
    assert_eq!(outcome, StartOutcome::OwnedByPeer { orchestrator_id: A.into() });
    assert_eq!(db.store.job(job).await.unwrap().unwrap().attempts[0].state, AttemptState::Queued);

    // Once A's lease has expired, B may run it, and owns it from then on.
    assert_eq!(db.store.start_attempt(job, 1, B, at(30)).await.unwrap(), StartOutcome::Started);
    let attempt = db.store.job(job).await.unwrap().unwrap().attempts.remove(0);
    assert_eq!((attempt.state, attempt.orchestrator_id.as_str()), (AttemptState::Started, B));

    // An owner that never held a lease does not hold the attempt back either.
    db.store.record_job(&request(leaseless, 1), C, at(0)).await.unwrap();
    assert_eq!(db.store.start_attempt(leaseless, 1, B, at(1)).await.unwrap(), StartOutcome::Started);
}

pub async fn concurrent_starts_have_one_winner(db: &mut TestDb) {
    let [job] = job_ids();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move { store.start_attempt(job, 1, &format!("orchestrator-{i}"), at(1)).await })
        })
        .collect();
    let mut started = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            StartOutcome::Started => started += 1,
            StartOutcome::AlreadyStarted { .. } => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(started, 1);
}

pub async fn only_the_owner_finishes_an_attempt(db: &mut TestDb) {
    let [started, queued] = job_ids();
    db.store.record_job(&request(started, 1), A, at(0)).await.unwrap();
    db.store.start_attempt(started, 1, A, at(1)).await.unwrap();
    let outcome = db.store.finish_attempt(started, 1, B, JobResult::Success, None, at(2)).await.unwrap();
    assert_eq!(outcome, FinishOutcome::NotOwner { orchestrator_id: A.into() });
    let outcome = db.store.finish_attempt(started, 1, A, JobResult::Success, None, at(3)).await.unwrap();
    assert_eq!(outcome, FinishOutcome::Finished);

    // A queued attempt finishes directly, e.g. cancelled before it started.
    db.store.record_job(&request(queued, 1), A, at(0)).await.unwrap();
    let outcome = db.store.finish_attempt(queued, 1, A, JobResult::Cancelled, Some("cancelled"), at(4)).await;
    assert_eq!(outcome.unwrap(), FinishOutcome::Finished);
    let attempt = db.store.job(queued).await.unwrap().unwrap().attempts.remove(0);
    assert_eq!(
        (attempt.state, attempt.started_at, attempt.result),
        (AttemptState::Finished, None, Some(JobResult::Cancelled))
    );
}

pub async fn unknown_attempts_are_reported(db: &mut TestDb) {
    let [job, unknown] = job_ids();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    assert_eq!(db.store.start_attempt(unknown, 1, A, at(1)).await.unwrap(), StartOutcome::NotRecorded);
    assert_eq!(db.store.start_attempt(job, 2, A, at(1)).await.unwrap(), StartOutcome::NotRecorded);
    let outcome = db.store.finish_attempt(unknown, 1, A, JobResult::Success, None, at(1)).await.unwrap();
    assert_eq!(outcome, FinishOutcome::NotRecorded);

    // Attempts count from 1, as the forges count them.
    let error = db.store.record_job(&request(unknown, 0), A, at(0)).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid { .. }), "{error:?}");
    assert_eq!(error.to_string(), "record a job: attempt numbers start at 1");
    assert!(!error.is_unavailable());
    assert!(matches!(db.store.start_attempt(job, 0, A, at(1)).await, Err(StoreError::Invalid { .. })));
}

pub async fn unfinished_attempts_are_listed_per_orchestrator(db: &mut TestDb) {
    let [queued, started, finished, other] = job_ids();
    for job in [queued, started, finished] {
        db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    }
    db.store.record_job(&request(other, 1), B, at(0)).await.unwrap();
    db.store.start_attempt(started, 1, A, at(1)).await.unwrap();
    db.store.start_attempt(finished, 1, A, at(1)).await.unwrap();
    db.store.finish_attempt(finished, 1, A, JobResult::Success, None, at(2)).await.unwrap();

    let listed: Vec<_> =
        db.store.unfinished_attempts(A).await.unwrap().into_iter().map(|a| (a.job_id, a.state)).collect();
    assert_eq!(listed, [(queued, AttemptState::Queued), (started, AttemptState::Started)]);
    assert_eq!(db.store.unfinished_attempts(B).await.unwrap().len(), 1);
    assert!(db.store.unfinished_attempts(C).await.unwrap().is_empty());
}

pub async fn the_request_keeps_its_secrets_sealed(db: &mut TestDb) {
    const SECRET: &str = "s3cr3t-that-must-never-reach-the-database";
    const TOKEN: &str = "ghs_token-that-must-never-reach-the-database";
    let [job] = job_ids();
    let key = BusKey::generate().unwrap();
    let mut sent = request(job, 1);
    sent.secrets.insert("DEPLOY_KEY".into(), key.seal(job, SECRET).unwrap());
    sent.workspace.token = Some(key.seal(job, TOKEN).unwrap());
    db.store.record_job(&sent, A, at(0)).await.unwrap();

    let stored = db.everything_stored().await;
    assert!(!stored.contains(SECRET) && !stored.contains(TOKEN), "a secret reached the database in clear");
    assert!(stored.contains(&sent.secrets["DEPLOY_KEY"].ciphertext), "the sealed secret is stored as sealed");

    // What comes back is what the bus carried, still openable by the agent.
    let back = db.store.job(job).await.unwrap().unwrap().request;
    assert_eq!(back, sent);
    assert_eq!(key.open(job, &back.secrets["DEPLOY_KEY"]).unwrap().expose(), SECRET);
}

pub async fn times_keep_microseconds(db: &mut TestDb) {
    let [job] = job_ids();
    let started = at(1) + Duration::nanoseconds(123_456_789);
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    db.store.start_attempt(job, 1, A, started).await.unwrap();
    let attempt = db.store.job(job).await.unwrap().unwrap().attempts.remove(0);
    assert_eq!(attempt.started_at, Some(at(1) + Duration::microseconds(123_456)));
}

pub async fn any_text_round_trips(db: &mut TestDb) {
    let [job] = job_ids();
    let mut sent = request(job, 1);
    // A NUL, quotes, backslashes, non-ASCII and expression syntax are all just text here.
    sent.name = "build \0 'quoted' \"double\" \\ ünïcødé ✓ ${{ github.event.title }}".into();
    sent.steps.push(contract::StepCommand::run(0, "s", contract::Template::literal("printf 'a\\0b'\0")));
    db.store.record_job(&sent, A, at(0)).await.unwrap();
    assert_eq!(db.store.job(job).await.unwrap().unwrap().request, sent);

    let state = serde_json::json!({ "text": sent.name });
    db.store.put_runner_task("runner-1", "task-1", &state, at(0)).await.unwrap();
    assert_eq!(db.store.runner_task("runner-1", "task-1").await.unwrap().unwrap().state, state);

    // Free text outside JSON cannot hold a NUL on PostgreSQL; it becomes U+FFFD on both.
    db.store.finish_attempt(job, 1, A, JobResult::Failure, Some("exit\0code 1"), at(1)).await.unwrap();
    let attempt = db.store.job(job).await.unwrap().unwrap().attempts.remove(0);
    assert_eq!(attempt.error.as_deref(), Some("exit\u{fffd}code 1"));
    let tombstone = db.store.add_tombstone(job, store::TombstoneScope::AllAttempts, "by\0me", at(2)).await.unwrap();
    assert_eq!(tombstone.reason, "by\u{fffd}me");
}
