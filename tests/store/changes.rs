//! Postgres change notifications (migration 0008 + `store::changes`): another connection's
//! change of a checkout's state or lease holder, or an Idempotency-Key's settling, reaches a
//! listener; a change no waiter waits for (a release flag the worker reads) does not. Postgres only: SQLite
//! runs one process and wakes its waiters in memory.

use std::time::Duration;

use checkout_gateway::checkout::model::Lease;
use checkout_gateway::checkout::state::CheckoutState;
use checkout_gateway::store::changes::{Change, follow};
use checkout_gateway::store::{IdempotencyKey, Store};
use checkout_gateway::tools::testdb::fresh_postgres_url;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::fixtures::{at, bare_checkout, user};

/// The next change heard, if one comes within 10 s.
async fn next(changes: &mut mpsc::UnboundedReceiver<Change>) -> Option<Change> {
    tokio::time::timeout(Duration::from_secs(10), changes.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_connections_changes_are_heard_and_only_those_a_waiter_waits_for() {
    let url = fresh_postgres_url().await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (tx, mut changes) = mpsc::unbounded_channel();
    let (stop, ready) = (CancellationToken::new(), CancellationToken::new());
    tokio::spawn(follow(
        url.clone(),
        move |change| {
            let _ = tx.send(change);
        },
        stop.clone(),
        ready.clone(),
    ));
    tokio::time::timeout(Duration::from_secs(10), ready.cancelled())
        .await
        .expect("listening");

    let mut checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    // A lease taken: its holder changed.
    let leased = store
        .checkouts
        .try_lease(checkout.id, "worker-1", at(30_000), at(0))
        .await
        .expect("lease");
    assert!(leased.is_some());
    assert_eq!(
        next(&mut changes).await,
        Some(Change::Checkout(checkout.id))
    );
    // A change no waiter waits for (a release asked for while a worker drives it: the worker
    // reads it at its next step) is not announced...
    store
        .checkouts
        .request_release(checkout.id)
        .await
        .expect("request release");
    // (notifications arrive in commit order: a key settled after it is the next thing heard)
    let key = IdempotencyKey {
        scope: "POST /v1/checkouts".into(),
        user: user("alice"),
        key: "k1".into(),
    };
    store
        .idempotency
        .begin(&key, "fp", at(0), at(3_600_000))
        .await
        .expect("begin");
    store.idempotency.abandon(&key).await.expect("abandon");
    assert_eq!(next(&mut changes).await, Some(Change::Idempotency));
    // ...but a state change is.
    checkout = store
        .checkouts
        .get(checkout.id)
        .await
        .expect("read")
        .expect("there");
    checkout.state = CheckoutState::Reserved;
    checkout.lease = Some(Lease {
        owner: "worker-1".into(),
        until: at(60_000),
    });
    store.checkouts.update(&checkout).await.expect("update");
    assert_eq!(
        next(&mut changes).await,
        Some(Change::Checkout(checkout.id))
    );

    stop.cancel();
}
