//! Schema and readiness; and SQLite's connection handling.

use checkout_gateway::store::Store;
use checkout_gateway::tools::testdb::fresh_sqlite_url;

use crate::fixtures::bare_checkout;

crate::conformance!(crate::unmigrated =>
    ready_is_false_before_migrate_and_true_after,
    migrating_twice_is_a_no_op,
);

async fn ready_is_false_before_migrate_and_true_after(store: Store) {
    assert!(!store.admin.ready().await.expect("ready before"));
    store.migrate().await.expect("migrate");
    assert!(store.admin.ready().await.expect("ready after"));
}

async fn migrating_twice_is_a_no_op(store: Store) {
    store.migrate().await.expect("migrate");
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");

    store.migrate().await.expect("migrate again");
    assert!(store.admin.ready().await.expect("ready"));
    let kept = store.checkouts.get(checkout.id).await.expect("get");
    assert_eq!(kept, Some(checkout));
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = Store::connect("sqlite::memory:").await.expect("connect");
    store.migrate().await.expect("migrate");
    let checkout = bare_checkout("alice");
    store.checkouts.insert(&checkout).await.expect("insert");
    // Reads go through the pool too: they must see the same in-memory database.
    let got = store.checkouts.get(checkout.id).await.expect("get");
    assert_eq!(got, Some(checkout));
}

#[tokio::test]
async fn sqlite_creates_the_file_and_its_folder() {
    let url = fresh_sqlite_url();
    let file = url
        .trim_start_matches("sqlite://")
        .replace(".db", "/nested/gateway.db");
    let store = Store::connect(&format!("sqlite://{file}"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    assert!(
        std::path::Path::new(&file).is_file(),
        "{file} was not created"
    );
    assert!(store.admin.ready().await.expect("ready"));
}
