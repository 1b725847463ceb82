//! Tombstones: a cancel recorded before the job arrives still keeps it from starting.

use contract::JobResult;
use store::{AttemptState, FinishOutcome, StartOutcome, Tombstone, TombstoneScope};

use crate::db::TestDb;
use crate::fixture::{A, at, job_ids, request};

pub async fn tombstones_cover_their_scope(db: &mut TestDb) {
    let [job, other] = job_ids();
    let first = db.store.add_tombstone(job, TombstoneScope::Attempt(1), "cancelled by alice", at(0)).await.unwrap();
    assert_eq!(
        first,
        Tombstone {
            job_id: job,
            scope: TombstoneScope::Attempt(1),
            reason: "cancelled by alice".into(),
            created_at: at(0)
        }
    );
    assert_eq!(db.store.tombstone(job, 1).await.unwrap(), Some(first.clone()));
    assert_eq!(db.store.tombstone(job, 2).await.unwrap(), None);

    let all = db.store.add_tombstone(job, TombstoneScope::AllAttempts, "workflow cancelled", at(5)).await.unwrap();
    assert_eq!(db.store.tombstone(job, 2).await.unwrap(), Some(all));
    // Where both cover an attempt, the older one answers.
    assert_eq!(db.store.tombstone(job, 1).await.unwrap(), Some(first));
    assert_eq!(db.store.tombstone(other, 1).await.unwrap(), None);
}

pub async fn cancelling_again_keeps_the_first_tombstone(db: &mut TestDb) {
    let [job] = job_ids();
    // A cancel without an attempt covers every attempt.
    let scope = TombstoneScope::from(None);
    let first = db.store.add_tombstone(job, scope, "first", at(0)).await.unwrap();
    assert_eq!(first.scope, TombstoneScope::AllAttempts);
    let again = db.store.add_tombstone(job, TombstoneScope::AllAttempts, "second", at(9)).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(db.store.tombstone(job, 3).await.unwrap().map(|t| t.reason), Some("first".into()));
}

pub async fn a_tombstoned_attempt_never_starts(db: &mut TestDb) {
    let [job] = job_ids();
    // The cancel overtakes the job on the bus.
    let tombstone = db.store.add_tombstone(job, TombstoneScope::Attempt(1), "cancelled", at(0)).await.unwrap();
    db.store.record_job(&request(job, 1), A, at(1)).await.unwrap();

    assert_eq!(db.store.start_attempt(job, 1, A, at(2)).await.unwrap(), StartOutcome::Cancelled(tombstone));
    assert_eq!(db.store.job(job).await.unwrap().unwrap().state, AttemptState::Queued);
    let outcome = db.store.finish_attempt(job, 1, A, JobResult::Cancelled, Some("cancelled"), at(3)).await.unwrap();
    assert_eq!(outcome, FinishOutcome::Finished);
}

pub async fn prune_removes_old_tombstones(db: &mut TestDb) {
    let [old, new] = job_ids();
    db.store.add_tombstone(old, TombstoneScope::AllAttempts, "old", at(0)).await.unwrap();
    db.store.add_tombstone(new, TombstoneScope::AllAttempts, "new", at(100)).await.unwrap();
    assert_eq!(db.store.prune_tombstones(at(50)).await.unwrap(), 1);
    assert_eq!(db.store.tombstone(old, 1).await.unwrap(), None);
    assert!(db.store.tombstone(new, 1).await.unwrap().is_some());
    assert_eq!(db.store.prune_tombstones(at(50)).await.unwrap(), 0);
}
