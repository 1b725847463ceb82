//! The sequencer's marks: atomic, gap-free, and persisted across a restart.

use std::collections::BTreeSet;

use crate::db::TestDb;
use crate::fixture::job_ids;

pub async fn sequence_numbers_start_at_one_and_count_up(db: &mut TestDb) {
    let [job, other] = job_ids();
    assert_eq!(db.store.last_seq(job, 1).await.unwrap(), 0);
    for expected in 1..=3 {
        assert_eq!(db.store.next_seq(job, 1).await.unwrap(), expected);
    }
    assert_eq!(db.store.last_seq(job, 1).await.unwrap(), 3);
    // Each attempt has its own numbers.
    assert_eq!(db.store.next_seq(job, 2).await.unwrap(), 1);
    assert_eq!(db.store.next_seq(other, 1).await.unwrap(), 1);

    assert_eq!(db.store.next_seqs(job, 1, 5).await.unwrap(), 4..9);
    assert_eq!(db.store.next_seqs(job, 1, 0).await.unwrap(), 9..9);
    assert_eq!(db.store.next_seqs(other, 7, 0).await.unwrap(), 1..1);
    assert_eq!(db.store.last_seq(job, 1).await.unwrap(), 8);
}

pub async fn concurrent_callers_get_no_duplicates_and_no_gaps(db: &mut TestDb) {
    const TASKS: u64 = 16;
    const CALLS: u64 = 20;
    let [job] = job_ids();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for call in 0..CALLS {
                    // Mix single numbers with batches, as log bursts would.
                    if (task + call) % 5 == 0 {
                        got.extend(store.next_seqs(job, 1, 3).await.unwrap());
                    } else {
                        got.push(store.next_seq(job, 1).await.unwrap());
                    }
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "no number handed out twice");
    let total = all.len() as u64;
    assert_eq!(distinct, (1..=total).collect::<BTreeSet<_>>(), "no gaps");
    assert_eq!(db.store.last_seq(job, 1).await.unwrap(), total);
}

pub async fn a_restart_continues_after_the_mark(db: &mut TestDb) {
    let [job] = job_ids();
    for _ in 0..3 {
        db.store.next_seq(job, 1).await.unwrap();
    }
    db.restart().await;
    assert_eq!(db.store.last_seq(job, 1).await.unwrap(), 3);
    assert_eq!(db.store.next_seq(job, 1).await.unwrap(), 4);
}

pub async fn two_processes_share_the_marks(db: &mut TestDb) {
    // A second handle on the same database stands for a second process: on SQLite it is a second
    // writer on the file, which waits for the lock (busy timeout) instead of failing.
    let [job] = job_ids();
    let other = store::connect(&db.url).await.unwrap();
    let tasks: Vec<_> = [db.store.clone(), other.clone()]
        .into_iter()
        .map(|store| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..25 {
                    got.push(store.next_seq(job, 1).await.unwrap());
                }
                got
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    other.close().await;
    assert_eq!(all, (1..=50).collect::<BTreeSet<u64>>());
}
