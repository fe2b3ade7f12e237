//! Postgres change notifications (migrations 0008, 0010 and 0012 + `store::changes`): another
//! connection's change of a checkout (its version, state or lease holder, with the version
//! written; its removal, without), or an Idempotency-Key's settling, reaches a listener; a
//! change neither a waiter nor a partner can see (a release flag the worker reads) does not.
//! The listener says when it starts and stops listening. Replicas of earlier versions still
//! hear the bare id on their channel. Postgres only: SQLite runs one process and wakes its
//! waiters in memory.

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
    assert_eq!(next(&mut changes).await, Some(Change::Heard));

    let mut checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    // A lease taken: its holder changed.
    let leased = store
        .checkouts
        .try_lease(checkout.id, "worker-1", at(30_000), at(0))
        .await
        .expect("lease");
    assert_eq!(leased.map(|c| c.version), Some(1));
    assert_eq!(
        next(&mut changes).await,
        Some(Change::Checkout {
            id: checkout.id,
            version: Some(1)
        })
    );
    // A change no waiter waits for and no partner sees (a release asked for while a worker
    // drives it: the worker reads it at its next step) is not announced...
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
        Some(Change::Checkout {
            id: checkout.id,
            version: Some(2)
        })
    );
    // ...and so is any other write of what a partner sees, in the same state under the same
    // lease (the read caches of other replicas must hear of it).
    checkout.version += 1;
    checkout.hold_expires_at = Some(at(90_000));
    checkout.updated_at = at(1_000);
    store.checkouts.update(&checkout).await.expect("update");
    assert_eq!(
        next(&mut changes).await,
        Some(Change::Checkout {
            id: checkout.id,
            version: Some(3)
        })
    );
    // A checkout removed (by hand: the gateway deletes none) has no version to name.
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::query("DELETE FROM checkouts WHERE id = $1")
        .bind(checkout.id.to_string())
        .execute(&pool)
        .await
        .expect("delete");
    assert_eq!(
        next(&mut changes).await,
        Some(Change::Checkout {
            id: checkout.id,
            version: None
        })
    );

    stop.cancel();
    assert_eq!(next(&mut changes).await, Some(Change::Unheard));
}

/// During a rolling upgrade, replicas of the previous version listen on `checkout_changed` and
/// parse its payload as a bare checkout id: it is still notified, exactly so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_versions_channel_still_hears_the_bare_id() {
    let url = fresh_postgres_url().await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut listener = sqlx::postgres::PgListener::connect(&url)
        .await
        .expect("listener");
    listener.listen("checkout_changed").await.expect("listen");
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    store
        .checkouts
        .try_lease(checkout.id, "worker-1", at(30_000), at(0))
        .await
        .expect("lease");
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification within 10 s")
        .expect("received");
    assert_eq!(heard.payload(), checkout.id.to_string());
}
