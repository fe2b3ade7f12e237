//! The user ↔ `source_account_id` mapping.

use checkout_gateway::store::{Store, StoreError};

use crate::fixtures::{at, user};

crate::conformance!(crate::migrated =>
    remember_is_idempotent_and_user_for_finds_the_user,
    a_conflicting_mapping_is_refused_and_changes_nothing,
);

async fn remember_is_idempotent_and_user_for_finds_the_user(store: Store) {
    let alice = user("alice");
    store
        .accounts
        .remember(&alice, "acct-a", at(0))
        .await
        .expect("remember");
    store
        .accounts
        .remember(&alice, "acct-a", at(5))
        .await
        .expect("remember again");

    let found = store.accounts.user_for("acct-a").await.expect("user_for");
    assert_eq!(found, Some(alice));
    let unknown = store
        .accounts
        .user_for("acct-unknown")
        .await
        .expect("user_for");
    assert_eq!(unknown, None);
}

async fn a_conflicting_mapping_is_refused_and_changes_nothing(store: Store) {
    let (alice, bob) = (user("alice"), user("bob"));
    store
        .accounts
        .remember(&alice, "acct-a", at(0))
        .await
        .expect("remember");

    // Another account for the same user…
    let result = store.accounts.remember(&alice, "acct-b", at(1)).await;
    assert!(matches!(result, Err(StoreError::Duplicate)), "{result:?}");
    // …or the same account for another user.
    let result = store.accounts.remember(&bob, "acct-a", at(1)).await;
    assert!(matches!(result, Err(StoreError::Duplicate)), "{result:?}");

    let a = store.accounts.user_for("acct-a").await.expect("user_for");
    assert_eq!(a, Some(alice));
    let b = store.accounts.user_for("acct-b").await.expect("user_for");
    assert_eq!(b, None);
}
