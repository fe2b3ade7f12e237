//! The upstream quota all replicas share: slots, each claimed at most once per window.

use chrono::TimeDelta;

use checkout_gateway::store::Store;

use crate::fixtures::at;

crate::conformance!(crate::migrated =>
    no_window_holds_more_claims_than_slots,
    concurrent_claims_take_each_slot_once,
    a_larger_capacity_adds_slots,
    budgets_have_slots_of_their_own,
);

const WINDOW: TimeDelta = TimeDelta::milliseconds(1000);

async fn claim(store: &Store, capacity: u32, ms: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    claim_in(store, "second", capacity, ms, WINDOW).await
}

async fn claim_in(
    store: &Store,
    budget: &str,
    capacity: u32,
    ms: i64,
    window: TimeDelta,
) -> Option<chrono::DateTime<chrono::Utc>> {
    store
        .quota
        .claim_send(budget, capacity, at(ms), window)
        .await
        .expect("claim")
}

async fn no_window_holds_more_claims_than_slots(store: Store) {
    for ms in [0, 10, 20] {
        assert_eq!(claim(&store, 3, ms).await, None, "claim at {ms}");
    }
    // All three used within the window: try again when the first frees.
    assert_eq!(claim(&store, 3, 500).await, Some(at(1000)));
    assert_eq!(claim(&store, 3, 999).await, Some(at(1000)));
    assert_eq!(claim(&store, 3, 1000).await, None);
    assert_eq!(claim(&store, 3, 1001).await, Some(at(1010)));
}

async fn concurrent_claims_take_each_slot_once(store: Store) {
    assert_eq!(claim(&store, 5, 0).await, None, "creates the slots");
    let claims = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { claim(&store, 5, 2000).await })
    });
    let granted = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(None)))
        .count();
    assert_eq!(granted, 5);
}

async fn a_larger_capacity_adds_slots(store: Store) {
    assert_eq!(claim(&store, 1, 0).await, None);
    assert!(claim(&store, 1, 1).await.is_some());
    assert_eq!(claim(&store, 2, 2).await, None);
    assert!(claim(&store, 2, 3).await.is_some());
}

async fn budgets_have_slots_of_their_own(store: Store) {
    let minute = TimeDelta::seconds(60);
    // The per-second budget's slots are all spent...
    assert_eq!(claim(&store, 1, 0).await, None);
    assert!(claim(&store, 1, 10).await.is_some());
    // ...and the per-minute budget still has its own.
    assert_eq!(claim_in(&store, "minute", 2, 10, minute).await, None);
    assert_eq!(claim_in(&store, "minute", 2, 2000, minute).await, None);
    // Two in the minute: the third waits for the first minute slot, long after the second's.
    assert_eq!(
        claim_in(&store, "minute", 2, 3000, minute).await,
        Some(at(60_010))
    );
    assert_eq!(claim(&store, 1, 3000).await, None);
}
