//! Leases (one worker per checkout), replica liveness (a registered replica's leases hold while
//! it heartbeats; an unregistered owner's until its `until`), and the selection of checkouts
//! that need a worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkout_gateway::checkout::model::{Checkout, Lease, Operation};
use checkout_gateway::checkout::state::CheckoutState;
use checkout_gateway::ids::CheckoutId;
use checkout_gateway::store::Store;
use tokio::sync::Barrier;

use crate::fixtures::{at, bare_checkout, user};

crate::conformance!(crate::migrated =>
    try_lease_is_exclusive_under_concurrency,
    try_lease_renews_for_its_owner_and_refuses_others,
    a_users_lease_takes_only_that_users_free_checkout,
    an_expired_lease_lets_another_owner_in,
    release_lease_frees_only_the_owners_lease,
    a_live_replicas_lease_holds_past_its_until_and_its_death_frees_it,
    a_fresh_heartbeat_is_not_reaped_and_a_retired_replica_frees_its_leases,
    a_replica_never_reaps_itself,
    leased_by_lists_exactly_one_replicas_leases,
    due_for_work_selects_what_needs_a_worker_oldest_first,
    due_for_work_respects_the_limit,
);

const CONTENDERS: usize = 20;

async fn try_lease_is_exclusive_under_concurrency(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");

    // All contenders are released at once so their updates really overlap.
    let barrier = Arc::new(Barrier::new(CONTENDERS));
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let owner = format!("worker-{i}");
                let won = store
                    .checkouts
                    .try_lease(checkout.id, &owner, at(60_000), at(0));
                won.await.expect("try_lease").map(|c| (owner, c))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.expect("task"));
    }

    assert_eq!(winners.len(), 1, "{winners:?}");
    let (owner, leased) = &winners[0];
    let expected = Lease {
        owner: owner.clone(),
        until: at(60_000),
    };
    assert_eq!(leased.lease.as_ref(), Some(&expected));
    assert_eq!(leased.version, 1);
    let stored = store.checkouts.get(checkout.id).await.expect("get");
    assert_eq!(stored.as_ref(), Some(leased));
}

async fn try_lease_renews_for_its_owner_and_refuses_others(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let lease = |owner: &'static str, until: i64, now: i64| {
        store
            .checkouts
            .try_lease(checkout.id, owner, at(until), at(now))
    };

    let first = lease("a", 10_000, 0).await.expect("lease");
    assert_eq!(first.map(|c| c.version), Some(1));
    let refused = lease("b", 20_000, 5_000).await.expect("lease b");
    assert_eq!(refused, None);
    let renewed = lease("a", 20_000, 5_000).await.expect("renew");
    let renewed_lease = renewed.and_then(|c| c.lease);
    assert_eq!(
        renewed_lease,
        Some(Lease {
            owner: "a".into(),
            until: at(20_000)
        })
    );

    // A lease that ends exactly now is still held.
    let at_the_edge = lease("b", 30_000, 20_000).await.expect("lease b");
    assert_eq!(at_the_edge, None);

    let unknown = store
        .checkouts
        .try_lease(CheckoutId::new(), "a", at(1), at(0))
        .await;
    assert_eq!(unknown.expect("lease unknown"), None);
}

async fn a_users_lease_takes_only_that_users_free_checkout(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let lease = |owner: &str| Lease {
        owner: owner.into(),
        until: at(10_000),
    };
    let by = async |name: &str, owner: &str| {
        store
            .checkouts
            .try_lease_for_user(checkout.id, &user(name), &lease(owner), at(0))
            .await
            .expect("lease")
    };
    assert_eq!(by("mallory", "m").await, None, "someone else's checkout");
    let untouched = store.checkouts.get(checkout.id).await.expect("get");
    assert_eq!(untouched.map(|c| (c.version, c.lease)), Some((0, None)));

    let taken = by("alice", "a").await.expect("alice's own, free");
    assert_eq!((taken.version, taken.lease), (1, Some(lease("a"))));
    assert_eq!(by("alice", "b").await, None, "held by another owner");
}

async fn an_expired_lease_lets_another_owner_in(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let id = checkout.id;

    let taken = store.checkouts.try_lease(id, "a", at(10_000), at(0)).await;
    assert!(taken.expect("lease a").is_some());
    let taken_over = store
        .checkouts
        .try_lease(id, "b", at(20_000), at(10_001))
        .await;
    let lease = taken_over.expect("lease b").and_then(|c| c.lease);
    assert_eq!(
        lease,
        Some(Lease {
            owner: "b".into(),
            until: at(20_000)
        })
    );

    // The previous owner no longer holds it.
    let back = store
        .checkouts
        .try_lease(id, "a", at(30_000), at(10_002))
        .await;
    assert_eq!(back.expect("lease a again"), None);
}

/// Takes `id` for `owner` at time 0 with a lease that would hold until `until` by itself.
async fn take(store: &Store, id: CheckoutId, owner: &str, until: i64) -> Option<Checkout> {
    let taken = store.checkouts.try_lease(id, owner, at(until), at(0)).await;
    taken.expect("try_lease")
}

const DAY: Duration = Duration::from_secs(86_400);

/// Reaps with no staleness allowed until `replica` is among the dead (the database clock has
/// moved past its last heartbeat: a millisecond); what that reaping marked.
async fn reap_when_stale(store: &Store, replica: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reaped = store.replicas.reap("reaper", Duration::ZERO, DAY).await;
        let reaped = reaped.expect("reap");
        if reaped.iter().any(|r| r == replica) || Instant::now() > deadline {
            return reaped;
        }
        tokio::task::yield_now().await;
    }
}

async fn a_live_replicas_lease_holds_past_its_until_and_its_death_frees_it(store: Store) {
    let mut checkout = bare_checkout("alice");
    checkout.operation = Some(Operation::Reserve);
    store.checkouts.insert(&checkout).await.expect("insert");
    let id = checkout.id;
    store.replicas.heartbeat("r1").await.expect("heartbeat");
    assert!(take(&store, id, "r1/work", 1_000).await.is_some());

    // Long after its `until`, the lease of a replica that heartbeats still holds.
    let late = store
        .checkouts
        .try_lease(id, "r2/work", at(90_000), at(80_000));
    assert_eq!(
        late.await.expect("try r2"),
        None,
        "a live replica's lease was taken"
    );
    let due = store.checkouts.due_for_work(at(80_000), at(0), 10).await;
    assert!(
        due.expect("due").is_empty(),
        "a live replica's checkout listed as due"
    );

    // Found dead: free at once, even before its `until`.
    let reaped = reap_when_stale(&store, "r1").await;
    assert_eq!(reaped, vec!["r1".to_owned()]);
    let due = store.checkouts.due_for_work(at(500), at(0), 10).await;
    assert_eq!(due.expect("due"), vec![id]);
    let taken = store
        .checkouts
        .try_lease(id, "r2/work", at(90_000), at(500));
    let lease = taken.await.expect("try r2").and_then(|c| c.lease);
    assert_eq!(lease.map(|l| l.owner), Some("r2/work".to_owned()));
}

/// A reap that ran late after its own replica's heartbeat (it waited for a connection) marks
/// every other stale replica dead, never its own: its work is still in flight.
async fn a_replica_never_reaps_itself(store: Store) {
    store.replicas.heartbeat("r1").await.expect("heartbeat r1");
    store.replicas.heartbeat("r2").await.expect("heartbeat r2");
    let deadline = Instant::now() + Duration::from_secs(10);
    let reaped = loop {
        let reaped = store.replicas.reap("r1", Duration::ZERO, DAY).await;
        let reaped = reaped.expect("reap");
        if !reaped.is_empty() || Instant::now() > deadline {
            break reaped;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(
        reaped,
        vec!["r2".to_owned()],
        "r1 reaped itself or missed r2"
    );
    let again = store.replicas.reap("r2", Duration::ZERO, DAY).await;
    assert_eq!(again.expect("reap"), vec!["r1".to_owned()]);
}

async fn a_fresh_heartbeat_is_not_reaped_and_a_retired_replica_frees_its_leases(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let id = checkout.id;
    store.replicas.heartbeat("r1").await.expect("heartbeat");
    assert!(take(&store, id, "r1/work", 1_000).await.is_some());
    let reaped = store.replicas.reap("reaper", DAY, DAY).await.expect("reap");
    assert!(
        reaped.is_empty(),
        "reaped a replica that just heartbeated: {reaped:?}"
    );

    store.replicas.retire("r1").await.expect("retire");
    let taken = store
        .checkouts
        .try_lease(id, "r2/work", at(90_000), at(500));
    assert!(
        taken.await.expect("try r2").is_some(),
        "a retired replica's lease held"
    );

    // A replica marked dead that heartbeats again is alive: its new leases hold.
    store
        .replicas
        .heartbeat("r1")
        .await
        .expect("heartbeat again");
    let other = bare_checkout("bob");
    store.checkouts.insert(&other).await.expect("insert");
    assert!(take(&store, other.id, "r1/again", 1_000).await.is_some());
    let late = store
        .checkouts
        .try_lease(other.id, "r2/work", at(90_000), at(80_000));
    assert_eq!(late.await.expect("try r2"), None);
}

async fn leased_by_lists_exactly_one_replicas_leases(store: Store) {
    let mut ids = Vec::new();
    for owner in ["r1/a", "r1/b", "r10/c", "r1x/d"] {
        let checkout = bare_checkout("alice");
        store.checkouts.insert(&checkout).await.expect("insert");
        assert!(take(&store, checkout.id, owner, 1_000).await.is_some());
        ids.push((checkout.id, owner.to_owned()));
    }
    let free = bare_checkout("alice");
    store.checkouts.insert(&free).await.expect("insert");

    let mut listed = store.checkouts.leased_by("r1").await.expect("leased_by");
    listed.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(listed, ids[..2].to_vec(), "another replica's leases listed");
    let none = store.checkouts.leased_by("r").await.expect("leased_by r");
    assert!(none.is_empty(), "{none:?}");
}

async fn release_lease_frees_only_the_owners_lease(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let id = checkout.id;
    store
        .checkouts
        .try_lease(id, "a", at(10_000), at(0))
        .await
        .expect("lease");

    store
        .checkouts
        .release_lease(id, "b")
        .await
        .expect("release by b");
    let stored = store.checkouts.get(id).await.expect("get").expect("stored");
    assert_eq!(stored.lease.map(|l| l.owner), Some("a".to_owned()));
    assert_eq!(stored.version, 1, "a foreign release writes nothing");

    store
        .checkouts
        .release_lease(id, "a")
        .await
        .expect("release by a");
    let stored = store.checkouts.get(id).await.expect("get").expect("stored");
    assert_eq!((stored.lease, stored.version), (None, 2));

    let taken = store.checkouts.try_lease(id, "b", at(10_000), at(1)).await;
    assert!(
        taken.expect("lease b").is_some(),
        "free again before the old lease ran out"
    );
}

/// One checkout per rule; `due` says whether `due_for_work(now = 100_000, abandoned_before =
/// 50_000)` must pick it. `updated` doubles as the expected order.
struct Case {
    name: &'static str,
    state: CheckoutState,
    operation: Option<Operation>,
    lease_until: Option<i64>,
    hold_expires: Option<i64>,
    updated: i64,
    next_check: Option<i64>,
    due: bool,
}

const NOW: i64 = 100_000;
const ABANDONED_BEFORE: i64 = 50_000;

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "op, no lease", state: CheckoutState::Reserving, operation: Some(Operation::Reserve), lease_until: None, hold_expires: None, updated: 90_000, next_check: None, due: true },
    Case { name: "op, lease expired", state: CheckoutState::Purchasing, operation: Some(Operation::Purchase), lease_until: Some(99_999), hold_expires: Some(500_000), updated: 80_000, next_check: None, due: true },
    Case { name: "op, lease live", state: CheckoutState::Paying, operation: Some(Operation::Payment), lease_until: Some(100_000), hold_expires: Some(500_000), updated: 10, next_check: None, due: false },
    Case { name: "reserved, hold expired", state: CheckoutState::Reserved, operation: None, lease_until: None, hold_expires: Some(99_999), updated: 95_000, next_check: None, due: true },
    Case { name: "reserved, hold live, recent", state: CheckoutState::Reserved, operation: None, lease_until: None, hold_expires: Some(100_000), updated: 60_000, next_check: None, due: false },
    Case { name: "accepted, abandoned", state: CheckoutState::PaymentAccepted, operation: None, lease_until: None, hold_expires: Some(500_000), updated: 49_999, next_check: None, due: true },
    Case { name: "reserved, hold expired, leased", state: CheckoutState::Reserved, operation: None, lease_until: Some(200_000), hold_expires: Some(1_000), updated: 20, next_check: None, due: false },
    Case { name: "accepted, abandoned, lease expired", state: CheckoutState::PaymentAccepted, operation: None, lease_until: Some(1_000), hold_expires: Some(500_000), updated: 30_000, next_check: None, due: true },
    Case { name: "purchased, old", state: CheckoutState::Purchased, operation: None, lease_until: None, hold_expires: Some(1_000), updated: 30, next_check: None, due: false },
    Case { name: "failed, old", state: CheckoutState::Failed, operation: None, lease_until: None, hold_expires: None, updated: 40, next_check: None, due: false },
    Case { name: "unconfirmed, lookup due", state: CheckoutState::PurchaseUnconfirmed, operation: Some(Operation::Purchase), lease_until: None, hold_expires: None, updated: 70_000, next_check: Some(100_000), due: true },
    Case { name: "unconfirmed, lookup later", state: CheckoutState::PurchaseUnconfirmed, operation: Some(Operation::Purchase), lease_until: None, hold_expires: None, updated: 50, next_check: Some(100_001), due: false },
    Case { name: "unconfirmed, no more lookups", state: CheckoutState::PurchaseUnconfirmed, operation: None, lease_until: None, hold_expires: None, updated: 60, next_check: None, due: false },
];

fn case_checkout(case: &Case) -> Checkout {
    let mut checkout = bare_checkout("alice");
    checkout.state = case.state;
    checkout.operation = case.operation;
    checkout.lease = case.lease_until.map(|ms| Lease {
        owner: "w".into(),
        until: at(ms),
    });
    checkout.hold_expires_at = case.hold_expires.map(at);
    checkout.updated_at = at(case.updated);
    checkout.next_check_at = case.next_check.map(at);
    checkout
}

async fn due_for_work_selects_what_needs_a_worker_oldest_first(store: Store) {
    let mut expected = Vec::new();
    let mut names = std::collections::HashMap::new();
    for case in CASES {
        let checkout = case_checkout(case);
        store.checkouts.insert(&checkout).await.expect("insert");
        names.insert(checkout.id, case.name);
        if case.due {
            expected.push((case.updated, checkout.id));
        }
    }
    expected.sort();
    let expected: Vec<_> = expected.into_iter().map(|(_, id)| names[&id]).collect();

    let due = store
        .checkouts
        .due_for_work(at(NOW), at(ABANDONED_BEFORE), 100)
        .await;
    let due: Vec<_> = due.expect("due").iter().map(|id| names[id]).collect();
    assert_eq!(due, expected);
}

async fn due_for_work_respects_the_limit(store: Store) {
    for case in CASES {
        store
            .checkouts
            .insert(&case_checkout(case))
            .await
            .expect("insert");
    }
    let all = store
        .checkouts
        .due_for_work(at(NOW), at(ABANDONED_BEFORE), 100)
        .await;
    let limited = store
        .checkouts
        .due_for_work(at(NOW), at(ABANDONED_BEFORE), 2)
        .await;
    assert_eq!(limited.expect("due"), all.expect("due")[..2].to_vec());
}
