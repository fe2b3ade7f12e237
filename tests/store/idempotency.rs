//! Idempotency keys: begin, replay, in progress, mismatch, expiry, abandon, purge.

use std::sync::Arc;

use checkout_gateway::store::{Begin, IdempotencyKey, Store, StoredResponse};
use tokio::sync::Barrier;

use crate::fixtures::{at, user};

crate::conformance!(crate::migrated =>
    begin_starts_then_reports_in_progress,
    concurrent_first_requests_start_exactly_once,
    a_completed_key_replays_its_response,
    a_different_request_with_the_same_key_is_a_mismatch,
    keys_are_scoped_by_operation_and_user,
    an_expired_key_is_replaced_as_if_new,
    abandon_forgets_only_in_progress_keys,
    purge_deletes_expired_keys_only,
    a_stale_in_progress_key_is_reclaimed_only_by_the_same_request,
    a_renewed_claim_is_not_taken_over_until_it_lapses,
);

fn key(scope: &str, owner: &str, key: &str) -> IdempotencyKey {
    IdempotencyKey {
        scope: scope.to_owned(),
        user: user(owner),
        key: key.to_owned(),
    }
}

fn created() -> StoredResponse {
    StoredResponse {
        status: 201,
        body: r#"{"id":"chk_1"}"#.to_owned(),
    }
}

/// `begin` at `now` ms with a one-hour expiry.
async fn begin(store: &Store, k: &IdempotencyKey, fingerprint: &str, now: i64) -> Begin {
    let result = store
        .idempotency
        .begin(k, fingerprint, at(now), at(now + 3_600_000));
    result.await.expect("begin")
}

async fn begin_starts_then_reports_in_progress(store: Store) {
    let k = key("create_checkout", "alice", "k1");
    assert_eq!(begin(&store, &k, "fp", 0).await, Begin::Started);
    assert_eq!(begin(&store, &k, "fp", 10).await, Begin::InProgress);
}

async fn concurrent_first_requests_start_exactly_once(store: Store) {
    const CONTENDERS: usize = 20;
    let k = key("create_checkout", "alice", "k1");
    let barrier = Arc::new(Barrier::new(CONTENDERS));
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let (store, barrier, k) = (store.clone(), barrier.clone(), k.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                begin(&store, &k, "fp", 0).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    let started = outcomes.iter().filter(|b| **b == Begin::Started).count();
    let in_progress = outcomes.iter().filter(|b| **b == Begin::InProgress).count();
    assert_eq!((started, in_progress), (1, CONTENDERS - 1), "{outcomes:?}");
}

async fn a_completed_key_replays_its_response(store: Store) {
    let k = key("create_checkout", "alice", "k1");
    assert_eq!(begin(&store, &k, "fp", 0).await, Begin::Started);
    store
        .idempotency
        .complete(&k, &created())
        .await
        .expect("complete");
    assert_eq!(begin(&store, &k, "fp", 10).await, Begin::Replay(created()));
}

async fn a_different_request_with_the_same_key_is_a_mismatch(store: Store) {
    let k = key("create_checkout", "alice", "k1");
    assert_eq!(begin(&store, &k, "fp-1", 0).await, Begin::Started);
    assert_eq!(begin(&store, &k, "fp-2", 10).await, Begin::Mismatch);
    store
        .idempotency
        .complete(&k, &created())
        .await
        .expect("complete");
    assert_eq!(begin(&store, &k, "fp-2", 20).await, Begin::Mismatch);
}

async fn keys_are_scoped_by_operation_and_user(store: Store) {
    let k = key("create_checkout", "alice", "k1");
    assert_eq!(begin(&store, &k, "fp", 0).await, Begin::Started);
    let other_user = key("create_checkout", "bob", "k1");
    assert_eq!(begin(&store, &other_user, "fp-b", 0).await, Begin::Started);
    let other_scope = key("purchase:chk_1", "alice", "k1");
    assert_eq!(begin(&store, &other_scope, "fp-p", 0).await, Begin::Started);
}

async fn an_expired_key_is_replaced_as_if_new(store: Store) {
    let k = key("create_checkout", "alice", "k1");
    let first = store.idempotency.begin(&k, "fp-1", at(0), at(1_000)).await;
    assert_eq!(first.expect("begin"), Begin::Started);
    store
        .idempotency
        .complete(&k, &created())
        .await
        .expect("complete");

    // Expiry is inclusive: at `expires_at` the key is gone, even for another request.
    assert_eq!(begin(&store, &k, "fp-2", 1_000).await, Begin::Started);
    // The replacement is a fresh in-progress key with the new fingerprint.
    assert_eq!(begin(&store, &k, "fp-2", 1_001).await, Begin::InProgress);
    assert_eq!(begin(&store, &k, "fp-1", 1_002).await, Begin::Mismatch);
}

async fn abandon_forgets_only_in_progress_keys(store: Store) {
    let running = key("create_checkout", "alice", "k1");
    assert_eq!(begin(&store, &running, "fp", 0).await, Begin::Started);
    store.idempotency.abandon(&running).await.expect("abandon");
    assert_eq!(begin(&store, &running, "fp-new", 1).await, Begin::Started);

    let done = key("create_checkout", "alice", "k2");
    assert_eq!(begin(&store, &done, "fp", 0).await, Begin::Started);
    store
        .idempotency
        .complete(&done, &created())
        .await
        .expect("complete");
    store
        .idempotency
        .abandon(&done)
        .await
        .expect("abandon done");
    assert_eq!(
        begin(&store, &done, "fp", 1).await,
        Begin::Replay(created())
    );
}

async fn purge_deletes_expired_keys_only(store: Store) {
    for (name, expires) in [("old-1", 1_000), ("old-2", 2_000), ("fresh", 3_001)] {
        let k = key("create_checkout", "alice", name);
        let result = store.idempotency.begin(&k, "fp", at(0), at(expires)).await;
        assert_eq!(result.expect("begin"), Begin::Started);
    }

    let purged = store
        .idempotency
        .purge_expired(at(2_000))
        .await
        .expect("purge");
    assert_eq!(purged, 2);
    // The survivor is still there (in progress); a purged key starts afresh even before
    // `now` passes its old expiry.
    let fresh = key("create_checkout", "alice", "fresh");
    assert_eq!(begin(&store, &fresh, "fp", 2_500).await, Begin::InProgress);
    let old = key("create_checkout", "alice", "old-2");
    assert_eq!(begin(&store, &old, "fp", 0).await, Begin::Started);
}

async fn a_stale_in_progress_key_is_reclaimed_only_by_the_same_request(store: Store) {
    let k = key("purchase", "alice", "k9");
    assert_eq!(begin(&store, &k, "fp", 0).await, Begin::Started);
    let ids = &store.idempotency;
    // Not stale yet: started at 0, stale only before -1.
    assert!(
        !ids.reclaim_stale(&k, "fp", at(10), at(-1))
            .await
            .expect("early")
    );
    // Another request never takes it over.
    assert!(
        !ids.reclaim_stale(&k, "other", at(600_000), at(300_000))
            .await
            .expect("other")
    );
    // The same request, long after: taken over, and in progress again from now.
    assert!(
        ids.reclaim_stale(&k, "fp", at(600_000), at(300_000))
            .await
            .expect("reclaim")
    );
    assert!(
        !ids.reclaim_stale(&k, "fp", at(600_001), at(300_000))
            .await
            .expect("twice")
    );
    assert_eq!(begin(&store, &k, "fp", 600_002).await, Begin::InProgress);
    // A completed key is never reclaimed.
    ids.complete(&k, &created()).await.expect("complete");
    assert!(
        !ids.reclaim_stale(&k, "fp", at(9_000_000), at(8_000_000))
            .await
            .expect("done")
    );
}

async fn a_renewed_claim_is_not_taken_over_until_it_lapses(store: Store) {
    let k = key("purchase", "alice", "k10");
    assert_eq!(begin(&store, &k, "fp", 0).await, Begin::Started);
    let ids = &store.idempotency;
    let reclaim =
        |now: i64, stale_before: i64| ids.reclaim_stale(&k, "fp", at(now), at(stale_before));
    // Renewed at 100 s: a claim judged stale only if unrenewed since 90 s is still alive.
    assert!(ids.renew(&k, at(100_000)).await.expect("renew"));
    assert!(!reclaim(120_000, 90_000).await.expect("renewed"));
    // A renewal from a clock that is behind does not move it back.
    assert!(ids.renew(&k, at(50_000)).await.expect("renew behind"));
    assert!(!reclaim(130_000, 99_999).await.expect("not moved back"));
    // Unrenewed since 100 s and judged at "stale before 100 s": taken over.
    assert!(reclaim(200_000, 100_000).await.expect("lapsed"));
    // The taker's claim starts at its own `now`.
    assert!(!reclaim(210_000, 150_000).await.expect("fresh claim"));
    // A completed key, or one never begun, has no claim to renew.
    ids.complete(&k, &created()).await.expect("complete");
    assert!(!ids.renew(&k, at(300_000)).await.expect("done"));
    let never = key("purchase", "alice", "never");
    assert!(!ids.renew(&never, at(300_000)).await.expect("unknown"));
}

/// A key claimed by a replica from before renewals (during a rolling upgrade) has no
/// `renewed_at` (the migration's default, 0): its claim counts from when it was made, so a
/// repeat on an upgraded replica does not take a running request's key over at once.
async fn a_claim_from_before_renewals_counts_from_its_start(db: crate::Db) {
    let url = crate::fresh_url(db).await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let k = key("purchase", "alice", "old-replica");
    assert_eq!(begin(&store, &k, "fp", 100_000).await, Begin::Started);
    let as_the_old_code_left_it = "UPDATE idempotency_keys SET renewed_at = 0";
    match db {
        crate::Db::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.expect("pg");
            sqlx::query(as_the_old_code_left_it)
                .execute(&pool)
                .await
                .expect("update");
        }
        crate::Db::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            sqlx::query(as_the_old_code_left_it)
                .execute(&pool)
                .await
                .expect("update");
        }
    }
    let ids = &store.idempotency;
    // Claimed at 100 s: not stale for a judge that wants a sign of life since 80 s…
    assert!(
        !ids.reclaim_stale(&k, "fp", at(110_000), at(80_000))
            .await
            .expect("fresh")
    );
    // …but stale once nothing has been heard from it since then.
    assert!(
        ids.reclaim_stale(&k, "fp", at(200_000), at(100_000))
            .await
            .expect("stale")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_claim_from_before_renewals_counts_from_its_start() {
    a_claim_from_before_renewals_counts_from_its_start(crate::Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_claim_from_before_renewals_counts_from_its_start() {
    a_claim_from_before_renewals_counts_from_its_start(crate::Db::Sqlite).await;
}
