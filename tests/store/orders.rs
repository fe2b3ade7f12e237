//! Purchases (order + checkout in one transaction) and reading orders back.

use checkout_gateway::checkout::model::{Checkout, Order};
use checkout_gateway::checkout::state::CheckoutState;
use checkout_gateway::ids::OrderId;
use checkout_gateway::store::{OrderCursor, Store, StoreError};

use crate::fixtures::{bumped, inserted_checkout, order_for, user};

crate::conformance!(crate::migrated =>
    record_purchase_writes_the_order_and_the_checkout,
    a_second_order_for_a_checkout_rolls_the_checkout_back,
    a_stale_purchase_conflicts_and_stores_no_order,
    orders_are_only_visible_to_their_user,
    find_by_token_finds_the_order,
    orders_paginate_newest_first_across_equal_timestamps,
    a_purchase_queues_its_notice_in_the_same_transaction,
);

/// A checkout inserted and about to be marked purchased with `order`.
async fn purchasing(store: &Store, owner: &str, token: &str, created_ms: i64) -> (Checkout, Order) {
    let checkout = inserted_checkout(store, owner).await;
    let order = order_for(&checkout, token, created_ms);
    let mut purchased = checkout;
    purchased.state = CheckoutState::Purchased;
    purchased.order_id = Some(order.id);
    (purchased, order)
}

/// A checkout purchased with an order created at `created_ms`, both stored.
async fn purchased(store: &Store, owner: &str, token: &str, created_ms: i64) -> (Checkout, Order) {
    let (checkout, order) = purchasing(store, owner, token, created_ms).await;
    let result = store
        .checkouts
        .record_purchase(&checkout, &order, None)
        .await;
    result.expect("record_purchase");
    (checkout, order)
}

async fn record_purchase_writes_the_order_and_the_checkout(store: Store) {
    let (checkout, order) = purchased(&store, "alice", "tok-1", 0).await;

    let stored = store
        .checkouts
        .get(checkout.id)
        .await
        .expect("get checkout");
    assert_eq!(stored, Some(bumped(&checkout)));
    let by_checkout = store.orders.get_by_checkout(checkout.id).await;
    assert_eq!(by_checkout.expect("get order"), Some(order));
}

async fn a_second_order_for_a_checkout_rolls_the_checkout_back(store: Store) {
    let (checkout, _) = purchased(&store, "alice", "tok-1", 0).await;

    // Current version, so the checkout update itself would succeed: only the order clashes.
    let mut again = bumped(&checkout);
    again.state = CheckoutState::Failed;
    let second = order_for(&again, "tok-2", 5);
    let result = store.checkouts.record_purchase(&again, &second, None).await;
    assert!(matches!(result, Err(StoreError::Duplicate)), "{result:?}");

    let stored = store
        .checkouts
        .get(checkout.id)
        .await
        .expect("get checkout");
    assert_eq!(
        stored,
        Some(bumped(&checkout)),
        "the checkout write was rolled back"
    );
    let by_token = store.orders.find_by_token("tok-2").await.expect("find");
    assert_eq!(by_token, None);
}

async fn a_stale_purchase_conflicts_and_stores_no_order(store: Store) {
    let (checkout, order) = purchasing(&store, "alice", "tok-1", 0).await;
    let mut moved = checkout.clone();
    moved.state = CheckoutState::Reserved;
    moved.order_id = None;
    store
        .checkouts
        .update(&moved)
        .await
        .expect("concurrent update");

    let result = store
        .checkouts
        .record_purchase(&checkout, &order, None)
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    let by_checkout = store.orders.get_by_checkout(checkout.id).await;
    assert_eq!(by_checkout.expect("get order"), None);
}

async fn orders_are_only_visible_to_their_user(store: Store) {
    let (_, order) = purchased(&store, "alice", "tok-1", 0).await;

    let own = store.orders.get_for_user(order.id, &user("alice")).await;
    assert_eq!(own.expect("get own"), Some(order.clone()));
    let other = store.orders.get_for_user(order.id, &user("mallory")).await;
    assert_eq!(other.expect("get other's"), None);
    let unknown = store
        .orders
        .get_for_user(OrderId::new(), &user("alice"))
        .await;
    assert_eq!(unknown.expect("get unknown"), None);
}

async fn find_by_token_finds_the_order(store: Store) {
    let (_, order) = purchased(&store, "alice", "tok-1", 0).await;

    let found = store.orders.find_by_token("tok-1").await.expect("find");
    assert_eq!(found, Some(order));
    let missing = store
        .orders
        .find_by_token("tok-unknown")
        .await
        .expect("find");
    assert_eq!(missing, None);
}

async fn orders_paginate_newest_first_across_equal_timestamps(store: Store) {
    // Three orders share a timestamp, so the id must break the tie for the cursor to work.
    let mut expected = Vec::new();
    for (i, created) in [10, 30, 30, 30, 20, 40, 5].into_iter().enumerate() {
        let (_, order) = purchased(&store, "alice", &format!("tok-{i}"), created).await;
        expected.push(order);
    }
    purchased(&store, "bob", "tok-bob", 35).await;
    expected.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id.to_string())));

    let mut listed = Vec::new();
    let mut before: Option<OrderCursor> = None;
    let mut pages = 0;
    loop {
        let page = store.orders.list_for_user(&user("alice"), before, 2).await;
        let page = page.expect("list");
        assert!(page.orders.len() <= 2);
        listed.extend(page.orders);
        pages += 1;
        match page.next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(listed, expected);
    assert_eq!(pages, 4, "7 orders in pages of 2, and no empty last page");

    // An exact fit says there is no next page.
    let all = store.orders.list_for_user(&user("alice"), None, 7).await;
    assert_eq!(all.expect("list all").next, None);
}

async fn a_purchase_queues_its_notice_in_the_same_transaction(store: Store) {
    use checkout_gateway::jobs::model::DeliveryStatus;
    let (checkout, order) = purchasing(&store, "alice", "tok-1", 0).await;
    let notice = crate::jobs::delivery(None, "tok-1", 0);
    let result = store
        .checkouts
        .record_purchase(&checkout, &order, Some(&notice))
        .await;
    result.expect("record_purchase");
    let pending = store
        .jobs
        .list_deliveries(DeliveryStatus::Pending, 10)
        .await;
    assert_eq!(pending.expect("list"), vec![notice]);

    // A purchase that does not commit queues nothing.
    let (stale, second) = purchasing(&store, "alice", "tok-2", 0).await;
    let mut stale = stale;
    stale.version += 5;
    let lost = crate::jobs::delivery(None, "tok-2", 0);
    let result = store
        .checkouts
        .record_purchase(&stale, &second, Some(&lost))
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    let pending = store
        .jobs
        .list_deliveries(DeliveryStatus::Pending, 10)
        .await;
    assert_eq!(pending.expect("list").len(), 1);
}
