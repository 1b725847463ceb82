//! Leases and take-over: a peer's attempts change hands only after its lease expired, and
//! only once however many orchestrators try.

use contract::JobResult;
use store::{AttemptState, FinishOutcome, Lease, StoreError, TakeOver};
use time::Duration;

use crate::db::TestDb;
use crate::fixture::{A, B, C, at, job_ids, request};

fn lease(orchestrator_id: &str, expires_at: time::OffsetDateTime) -> Lease {
    Lease { orchestrator_id: orchestrator_id.into(), expires_at }
}

pub async fn heartbeat_renews_and_expired_peers_lists_the_lapsed(db: &mut TestDb) {
    let ttl = Duration::seconds(30);
    assert_eq!(db.store.heartbeat(A, at(0), ttl).await.unwrap(), lease(A, at(30)));
    assert_eq!(db.store.heartbeat(B, at(0), Duration::seconds(10)).await.unwrap(), lease(B, at(10)));

    assert!(db.store.expired_peers(A, at(9)).await.unwrap().is_empty());
    // Expired means "at or before now"; nobody is their own peer.
    assert_eq!(db.store.expired_peers(A, at(10)).await.unwrap(), [lease(B, at(10))]);
    assert_eq!(db.store.expired_peers(A, at(40)).await.unwrap(), [lease(B, at(10))]);
    assert_eq!(db.store.expired_peers(B, at(40)).await.unwrap(), [lease(A, at(30))]);
    assert_eq!(db.store.expired_peers(C, at(40)).await.unwrap(), [lease(A, at(30)), lease(B, at(10))]);

    // A heartbeat renews even a lapsed lease.
    assert_eq!(db.store.heartbeat(B, at(20), ttl).await.unwrap(), lease(B, at(50)));
    assert!(db.store.expired_peers(A, at(40)).await.unwrap().is_empty());

    let error = db.store.heartbeat(A, at(0), Duration::ZERO).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid { .. }), "{error:?}");
}

pub async fn release_lets_peers_take_over_at_once(db: &mut TestDb) {
    db.store.heartbeat(A, at(0), Duration::seconds(30)).await.unwrap();
    db.store.release_lease(A, at(5)).await.unwrap();
    assert_eq!(db.store.expired_peers(B, at(5)).await.unwrap(), [lease(A, at(5))]);
    // Releasing never extends a lease that already ran out.
    db.store.release_lease(A, at(20)).await.unwrap();
    assert_eq!(db.store.expired_peers(B, at(20)).await.unwrap(), [lease(A, at(5))]);
    assert!(matches!(db.store.take_over(B, A, at(6)).await.unwrap(), TakeOver::Taken(_)));
}

pub async fn take_over_waits_for_the_lease_to_expire(db: &mut TestDb) {
    let [queued, started, finished] = job_ids();
    db.store.heartbeat(A, at(0), Duration::seconds(30)).await.unwrap();
    for job in [queued, started, finished] {
        db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    }
    db.store.start_attempt(started, 1, A, at(1)).await.unwrap();
    db.store.start_attempt(finished, 1, A, at(1)).await.unwrap();
    db.store.finish_attempt(finished, 1, A, JobResult::Success, None, at(2)).await.unwrap();

    assert_eq!(db.store.take_over(B, A, at(29)).await.unwrap(), TakeOver::LeaseAlive { expires_at: at(30) });
    assert_eq!(db.store.unfinished_attempts(A).await.unwrap().len(), 2, "nothing moved while the lease lived");

    let TakeOver::Taken(taken) = db.store.take_over(B, A, at(30)).await.unwrap() else {
        panic!("the lease expired at 30");
    };
    let taken: Vec<_> = taken.iter().map(|a| (a.job_id, a.state, a.orchestrator_id.as_str())).collect();
    assert_eq!(taken, [(queued, AttemptState::Queued, B), (started, AttemptState::Started, B)]);
    assert!(db.store.unfinished_attempts(A).await.unwrap().is_empty());
    assert_eq!(db.store.unfinished_attempts(B).await.unwrap().len(), 2);
    assert!(db.store.expired_peers(C, at(60)).await.unwrap().iter().all(|l| l.orchestrator_id != A));

    // The lease is gone with the take-over: nobody else gets the attempts.
    assert_eq!(db.store.take_over(C, A, at(31)).await.unwrap(), TakeOver::NoLease);
    assert_eq!(db.store.take_over(C, "never-seen", at(31)).await.unwrap(), TakeOver::NoLease);
    // The finished attempt stayed where it was.
    assert_eq!(db.store.job(finished).await.unwrap().unwrap().attempts[0].orchestrator_id, A);
}

pub async fn two_takers_one_winner(db: &mut TestDb) {
    // Several rounds, each with a fresh dead peer, to give the race a chance to go wrong.
    for round in 0..5 {
        let peer = format!("dead-peer-{round}");
        db.store.heartbeat(&peer, at(0), Duration::seconds(10)).await.unwrap();
        let jobs = job_ids::<10>();
        for job in jobs {
            db.store.record_job(&request(job, 1), &peer, at(0)).await.unwrap();
        }
        let takers: Vec<_> = (0..4)
            .map(|i| {
                let (store, peer) = (db.store.clone(), peer.clone());
                tokio::spawn(async move { store.take_over(&format!("taker-{round}-{i}"), &peer, at(20)).await })
            })
            .collect();
        let mut winners = Vec::new();
        for taker in takers {
            match taker.await.unwrap().unwrap() {
                TakeOver::Taken(attempts) => winners.push(attempts),
                TakeOver::NoLease => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one taker wins");
        let winner = &winners[0];
        assert_eq!(winner.iter().map(|a| a.job_id).collect::<Vec<_>>(), jobs);
        let owner = &winner[0].orchestrator_id;
        assert!(winner.iter().all(|a| &a.orchestrator_id == owner));
        assert_eq!(db.store.unfinished_attempts(owner).await.unwrap().len(), 10);
    }
}

pub async fn a_peer_back_after_take_over_owns_nothing(db: &mut TestDb) {
    let [job] = job_ids();
    db.store.heartbeat(A, at(0), Duration::seconds(10)).await.unwrap();
    db.store.record_job(&request(job, 1), A, at(0)).await.unwrap();
    db.store.start_attempt(job, 1, A, at(1)).await.unwrap();
    assert!(matches!(db.store.take_over(B, A, at(15)).await.unwrap(), TakeOver::Taken(_)));

    // A was only stalled; it comes back, renews, and finds its attempt gone.
    db.store.heartbeat(A, at(16), Duration::seconds(10)).await.unwrap();
    assert!(db.store.unfinished_attempts(A).await.unwrap().is_empty());
    let outcome = db.store.finish_attempt(job, 1, A, JobResult::Success, None, at(17)).await.unwrap();
    assert_eq!(outcome, FinishOutcome::NotOwner { orchestrator_id: B.into() });
    // The new owner fails it: the VM's SSH key died with A's process.
    let outcome =
        db.store.finish_attempt(job, 1, B, JobResult::Failure, Some("its orchestrator died"), at(18)).await.unwrap();
    assert_eq!(outcome, FinishOutcome::Finished);
}
