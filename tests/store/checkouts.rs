//! Checkout rows: insert, read, optimistic update, listing and counting.

use checkout_gateway::checkout::state::CheckoutState;
use checkout_gateway::ids::CheckoutId;
use checkout_gateway::store::{Store, StoreError};

use crate::fixtures::{at, bare_checkout, bumped, full_checkout, user};

crate::conformance!(crate::migrated =>
    insert_and_get,
    get_for_user_hides_other_users_checkouts,
    inserting_the_same_id_twice_is_duplicate,
    update_round_trips_every_field_and_bumps_version,
    stale_update_conflicts_and_changes_nothing,
    list_by_state_filters_newest_first_and_limits,
    unsettled_purchases_are_the_users_purchases_in_doubt_for_the_event_oldest_first,
    count_by_state_counts_each_state,
    a_requested_release_survives_the_workers_next_write,
    a_release_is_marked_only_while_reserving,
    nudging_makes_only_that_users_unconfirmed_purchases_of_the_event_due,
);

async fn insert_and_get(store: Store) {
    let bare = bare_checkout("alice");
    let full = full_checkout(&bare_checkout("bob"));
    store.checkouts.insert(&bare).await.expect("insert bare");
    store.checkouts.insert(&full).await.expect("insert full");

    let got = store.checkouts.get(bare.id).await.expect("get bare");
    assert_eq!(got, Some(bare));
    let got = store.checkouts.get(full.id).await.expect("get full");
    assert_eq!(got, Some(full));
    let missing = store.checkouts.get(CheckoutId::new()).await.expect("get");
    assert_eq!(missing, None);
}

async fn get_for_user_hides_other_users_checkouts(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");

    let own = store
        .checkouts
        .get_for_user(checkout.id, &user("alice"))
        .await;
    assert_eq!(own.expect("get own"), Some(checkout.clone()));
    let other = store
        .checkouts
        .get_for_user(checkout.id, &user("mallory"))
        .await;
    assert_eq!(other.expect("get other's"), None);
}

async fn inserting_the_same_id_twice_is_duplicate(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let again = store.checkouts.insert(&checkout).await;
    assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
}

async fn update_round_trips_every_field_and_bumps_version(store: Store) {
    let bare = bare_checkout("alice");
    store.checkouts.insert(&bare).await.expect("insert");

    // Every field set…
    let full = full_checkout(&bare);
    store.checkouts.update(&full).await.expect("update to full");
    let stored = store.checkouts.get(bare.id).await.expect("get");
    assert_eq!(stored, Some(bumped(&full)));

    // …and every optional field cleared again, but `release_requested`: a partner's release
    // asked for while a worker drives the checkout is never undone by that worker's write.
    let cleared = bumped(&bare);
    store
        .checkouts
        .update(&cleared)
        .await
        .expect("update to bare");
    let stored = store.checkouts.get(bare.id).await.expect("get");
    let mut expected = bumped(&cleared);
    expected.release_requested = true;
    assert_eq!(stored, Some(expected));
    assert_eq!(stored.map(|c| c.version), Some(2));
}

async fn stale_update_conflicts_and_changes_nothing(store: Store) {
    let original = bare_checkout("alice");
    store.checkouts.insert(&original).await.expect("insert");
    let mut first = original.clone();
    first.state = CheckoutState::Reserved;
    store.checkouts.update(&first).await.expect("first update");

    // A second writer that read version 0 too.
    let mut stale = original.clone();
    stale.state = CheckoutState::Failed;
    let result = store.checkouts.update(&stale).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

    let stored = store.checkouts.get(original.id).await.expect("get");
    assert_eq!(stored, Some(bumped(&first)));

    // An update of a checkout that was never inserted has no version to match either.
    let result = store.checkouts.update(&bare_checkout("alice")).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
}

async fn list_by_state_filters_newest_first_and_limits(store: Store) {
    let states = [
        (CheckoutState::Reserved, 10),
        (CheckoutState::Paying, 30),
        (CheckoutState::Reserved, 20),
        (CheckoutState::Purchased, 40),
        (CheckoutState::Paying, 5),
    ];
    let mut inserted = Vec::new();
    for (state, created) in states {
        let mut checkout = bare_checkout("alice");
        checkout.state = state;
        checkout.created_at = at(created);
        store.checkouts.insert(&checkout).await.expect("insert");
        inserted.push(checkout);
    }

    let wanted = [CheckoutState::Reserved, CheckoutState::Paying];
    let listed = store
        .checkouts
        .list_by_state(&wanted, 10)
        .await
        .expect("list");
    let created: Vec<_> = listed.iter().map(|c| c.created_at).collect();
    assert_eq!(created, vec![at(30), at(20), at(10), at(5)]);
    assert!(listed.iter().all(|c| wanted.contains(&c.state)));

    let limited = store
        .checkouts
        .list_by_state(&wanted, 2)
        .await
        .expect("list");
    assert_eq!(limited, listed[..2].to_vec());

    let none = store
        .checkouts
        .list_by_state(&[], 10)
        .await
        .expect("list none");
    assert!(none.is_empty());
    let purchased = store
        .checkouts
        .list_by_state(&[CheckoutState::Purchased], 10)
        .await
        .expect("list purchased");
    assert_eq!(purchased, vec![inserted[3].clone()]);
}

async fn unsettled_purchases_are_the_users_purchases_in_doubt_for_the_event_oldest_first(
    store: Store,
) {
    let rows = [
        ("alice", "evt-1", CheckoutState::PurchaseUnknown, 20),
        ("alice", "evt-1", CheckoutState::Purchasing, 10),
        ("alice", "evt-1", CheckoutState::PurchaseUnconfirmed, 30),
        ("alice", "evt-1", CheckoutState::Purchased, 5),
        ("alice", "evt-1", CheckoutState::PaymentAccepted, 6),
        ("alice", "evt-2", CheckoutState::Purchasing, 7),
        ("bob", "evt-1", CheckoutState::PurchaseUnknown, 8),
    ];
    let mut inserted = Vec::new();
    for (owner, event, state, created) in rows {
        let mut checkout = bare_checkout(owner);
        checkout.event_id = event.to_owned();
        checkout.state = state;
        checkout.created_at = at(created);
        store.checkouts.insert(&checkout).await.expect("insert");
        inserted.push(checkout);
    }

    let unsettled = store
        .checkouts
        .unsettled_purchases(&user("alice"), "evt-1")
        .await
        .expect("list");
    assert_eq!(
        unsettled,
        vec![
            inserted[1].clone(),
            inserted[0].clone(),
            inserted[2].clone()
        ]
    );
    let none = store
        .checkouts
        .unsettled_purchases(&user("carol"), "evt-1")
        .await
        .expect("list none");
    assert!(none.is_empty());
}

async fn count_by_state_counts_each_state(store: Store) {
    let empty = store.checkouts.count_by_state().await.expect("count empty");
    assert!(empty.iter().all(|(_, n)| *n == 0), "{empty:?}");

    let states = [
        CheckoutState::Reserved,
        CheckoutState::Reserved,
        CheckoutState::Failed,
        CheckoutState::PurchaseUnknown,
        CheckoutState::Reserved,
    ];
    for state in states {
        let mut checkout = bare_checkout("alice");
        checkout.state = state;
        store.checkouts.insert(&checkout).await.expect("insert");
    }

    let mut counts = store.checkouts.count_by_state().await.expect("count");
    counts.retain(|(_, n)| *n > 0);
    counts.sort_by_key(|(state, _)| state.as_str());
    assert_eq!(
        counts,
        vec![
            (CheckoutState::Failed, 1),
            (CheckoutState::PurchaseUnknown, 1),
            (CheckoutState::Reserved, 3),
        ]
    );
}

async fn a_requested_release_survives_the_workers_next_write(store: Store) {
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let asked = store.checkouts.request_release(checkout.id).await;
    assert!(asked.expect("request"));
    // The worker read the row before the request and writes its own copy back: the write
    // keeps the mark, and tells the worker of it.
    let written = store.checkouts.update(&checkout).await.expect("update");
    assert!(written.release_requested, "the write returned the mark");
    let stored = store.checkouts.get(checkout.id).await.expect("get");
    assert_eq!(stored.map(|c| c.release_requested), Some(true));
    let unknown = store.checkouts.request_release(CheckoutId::new()).await;
    assert!(!unknown.expect("request"));
}

async fn a_release_is_marked_only_while_reserving(store: Store) {
    let mut checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    let written = store.checkouts.update(&checkout).await.expect("update");
    assert!(!written.release_requested, "nothing asked yet");
    checkout.version += 1;
    checkout.state = CheckoutState::Reserved;
    store.checkouts.update(&checkout).await.expect("update");
    // Reserved: the worker wrote its last reserving write; a mark now would be read by nobody.
    let asked = store.checkouts.request_release(checkout.id).await;
    assert!(!asked.expect("request"), "not marked once reserved");
    let stored = store.checkouts.get(checkout.id).await.expect("get");
    assert_eq!(stored.map(|c| c.release_requested), Some(false));
}

async fn nudging_makes_only_that_users_unconfirmed_purchases_of_the_event_due(store: Store) {
    use checkout_gateway::checkout::model::Operation;
    let rows = [
        ("alice", "evt-1", CheckoutState::PurchaseUnconfirmed, None),
        (
            "alice",
            "evt-1",
            CheckoutState::PurchaseUnconfirmed,
            Some(Operation::Purchase),
        ),
        ("alice", "evt-1", CheckoutState::Purchased, None),
        ("alice", "evt-2", CheckoutState::PurchaseUnconfirmed, None),
        ("bob", "evt-1", CheckoutState::PurchaseUnconfirmed, None),
    ];
    let mut ids = Vec::new();
    for (owner, event, state, operation) in rows {
        let mut checkout = bare_checkout(owner);
        checkout.event_id = event.to_owned();
        checkout.state = state;
        checkout.operation = operation;
        checkout.next_check_at = operation.map(|_| at(1_000_000));
        store.checkouts.insert(&checkout).await.expect("insert");
        ids.push(checkout.id);
    }
    let due = store.checkouts.due_for_work(at(500), at(0), 100).await;
    assert_eq!(due.expect("due"), Vec::<CheckoutId>::new());

    let nudged = store
        .checkouts
        .nudge_unconfirmed(&user("alice"), "evt-1", at(400))
        .await;
    assert_eq!(nudged.expect("nudge"), 2);
    let mut due = store
        .checkouts
        .due_for_work(at(500), at(0), 100)
        .await
        .expect("due");
    due.sort();
    let mut expected = vec![ids[0], ids[1]];
    expected.sort();
    assert_eq!(due, expected);
}
