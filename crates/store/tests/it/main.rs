//! One behavioural suite for the `Store` trait, written once and run against both backends:
//! `postgres::…` on the PostgreSQL server at 127.0.0.1:5432 (or `SOLSTICE_TEST_POSTGRES_URL`),
//! a fresh database per test; `sqlite::…` on a fresh file per test. Each suite function takes a
//! [`db::TestDb`]; the `suite!` list below instantiates it for both.
//!
//! Time never passes by sleeping: operations take `now`, and the tests hand in the times they
//! need (a lease "expires" because a later `now` is passed).

mod db;
mod fixture;
mod jobs;
mod leases;
mod runner_tasks;
mod schema;
mod sequences;
mod tombstones;
mod vms;

/// Instantiates every listed suite function once per backend, as
/// `<backend>::<module>::<function>`.
macro_rules! suite {
    ($($module:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        suite!(@backend postgres, Postgres, $($module: [$($test),*]),*);
        suite!(@backend sqlite, Sqlite, $($module: [$($test),*]),*);
    };
    (@backend $backend:ident, $variant:ident, $($module:ident: [$($test:ident),*]),*) => {
        mod $backend {
            $(mod $module {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $test() {
                        let mut db = crate::db::TestDb::open(crate::db::Backend::$variant).await;
                        crate::$module::$test(&mut db).await;
                        db.close().await;
                    }
                )*
            })*
        }
    };
}

suite! {
    jobs: [
        records_a_job_and_reads_it_back,
        a_redelivered_request_records_once,
        concurrent_redeliveries_record_once,
        a_rerun_adds_an_attempt_and_becomes_current,
        attempts_go_queued_started_finished,
        a_redelivered_attempt_that_started_is_reported,
        a_queued_attempt_of_a_live_peer_is_left_to_it,
        concurrent_starts_have_one_winner,
        only_the_owner_finishes_an_attempt,
        unknown_attempts_are_reported,
        unfinished_attempts_are_listed_per_orchestrator,
        the_request_keeps_its_secrets_sealed,
        times_keep_microseconds,
        any_text_round_trips,
    ],
    leases: [
        heartbeat_renews_and_expired_peers_lists_the_lapsed,
        release_lets_peers_take_over_at_once,
        take_over_waits_for_the_lease_to_expire,
        two_takers_one_winner,
        a_peer_back_after_take_over_owns_nothing,
    ],
    vms: [
        vm_records_round_trip_per_orchestrator,
        paths_that_are_not_utf8_are_refused,
        corrupt_rows_are_reported,
    ],
    sequences: [
        sequence_numbers_start_at_one_and_count_up,
        concurrent_callers_get_no_duplicates_and_no_gaps,
        a_restart_continues_after_the_mark,
        two_processes_share_the_marks,
    ],
    tombstones: [
        tombstones_cover_their_scope,
        cancelling_again_keeps_the_first_tombstone,
        a_tombstoned_attempt_never_starts,
        prune_removes_old_tombstones,
    ],
    runner_tasks: [
        runner_tasks_round_trip,
    ],
    schema: [
        migrations_applied_twice_change_nothing,
    ],
}
