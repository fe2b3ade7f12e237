//! Payment sessions of the hosted page: stored by their token's hash, ended together when a
//! payment is accepted for their checkout, deleted some time after they expire.

use checkout_gateway::checkout::model::{
    AddressPrefill, BillingPrefill, Checkout, PaymentSession, SessionTokenHash,
};
use checkout_gateway::store::{Store, StoreError};

use crate::fixtures::{at, inserted_checkout};

crate::conformance!(crate::migrated =>
    a_session_reads_back_as_stored_by_its_hash_only,
    a_hash_is_stored_once,
    ending_a_checkouts_sessions_leaves_others_and_keeps_earlier_ends,
    purging_deletes_only_sessions_expired_before_the_cut_off,
);

fn hash(byte: u8) -> SessionTokenHash {
    SessionTokenHash::from_digest(&[byte; 32])
}

fn session(checkout: &Checkout, byte: u8, expires_ms: i64) -> PaymentSession {
    PaymentSession {
        token_hash: hash(byte),
        checkout_id: checkout.id,
        user_id: checkout.user_id.clone(),
        return_url: url::Url::parse("partnerapp://checkout/done?x=1").expect("a URL"),
        billing: BillingPrefill::default(),
        created_at: at(0),
        expires_at: at(expires_ms),
        used_at: None,
    }
}

async fn a_session_reads_back_as_stored_by_its_hash_only(store: Store) {
    let checkout = inserted_checkout(&store, "alice").await;
    let mut full = session(&checkout, 1, 600_000);
    full.billing = BillingPrefill {
        first_name: Some("Zoë".into()),
        last_name: Some("O'Brien".into()),
        email: Some("zoe@example.com".into()),
        phone: Some("212-867-5309".into()),
        address: AddressPrefill {
            line1: Some("1 Main St".into()),
            line2: None,
            unit: Some("4B".into()),
            city: Some("Toronto".into()),
            region: Some("ON".into()),
            postal_code: Some("M5V 2T6".into()),
            country: Some("CA".into()),
        },
    };
    full.return_url = url::Url::parse("https://app.partner.example/back?order=7").unwrap();
    store.payment_sessions.insert(&full).await.expect("insert");
    let bare = session(&checkout, 2, 700_000);
    store.payment_sessions.insert(&bare).await.expect("insert");

    let read = store
        .payment_sessions
        .get(&full.token_hash)
        .await
        .expect("get");
    assert_eq!(read, Some(full));
    let read = store
        .payment_sessions
        .get(&bare.token_hash)
        .await
        .expect("get");
    assert_eq!(read, Some(bare));
    let unknown = store.payment_sessions.get(&hash(9)).await.expect("get");
    assert_eq!(unknown, None);
}

async fn a_hash_is_stored_once(store: Store) {
    let checkout = inserted_checkout(&store, "alice").await;
    let first = session(&checkout, 1, 600_000);
    store.payment_sessions.insert(&first).await.expect("insert");
    let again = PaymentSession {
        expires_at: at(1),
        ..first.clone()
    };
    let result = store.payment_sessions.insert(&again).await;
    assert!(matches!(result, Err(StoreError::Duplicate)), "{result:?}");
    let read = store.payment_sessions.get(&first.token_hash).await.unwrap();
    assert_eq!(read, Some(first));
}

async fn ending_a_checkouts_sessions_leaves_others_and_keeps_earlier_ends(store: Store) {
    let paid = inserted_checkout(&store, "alice").await;
    let other = inserted_checkout(&store, "bob").await;
    let (a, b) = (session(&paid, 1, 600_000), session(&paid, 2, 600_000));
    let ended_before = PaymentSession {
        used_at: Some(at(5)),
        ..session(&paid, 3, 600_000)
    };
    let elsewhere = session(&other, 4, 600_000);
    for s in [&a, &b, &ended_before, &elsewhere] {
        store.payment_sessions.insert(s).await.expect("insert");
    }

    let ended = store
        .payment_sessions
        .end_for_checkout(paid.id, at(10))
        .await
        .expect("end");
    assert_eq!(ended, 2);
    for (s, used_at) in [
        (&a, Some(at(10))),
        (&b, Some(at(10))),
        (&ended_before, Some(at(5))),
    ] {
        let read = store.payment_sessions.get(&s.token_hash).await.unwrap();
        assert_eq!(read.and_then(|r| r.used_at), used_at);
    }
    let untouched = store
        .payment_sessions
        .get(&elsewhere.token_hash)
        .await
        .unwrap();
    assert_eq!(untouched, Some(elsewhere));
    // Again: nothing left to end.
    let ended = store
        .payment_sessions
        .end_for_checkout(paid.id, at(20))
        .await
        .unwrap();
    assert_eq!(ended, 0);
}

async fn purging_deletes_only_sessions_expired_before_the_cut_off(store: Store) {
    let checkout = inserted_checkout(&store, "alice").await;
    let expired = session(&checkout, 1, 1_000);
    let used_and_expired = PaymentSession {
        used_at: Some(at(500)),
        ..session(&checkout, 2, 1_999)
    };
    let at_the_cut_off = session(&checkout, 3, 2_000);
    let live = session(&checkout, 4, 600_000);
    for s in [&expired, &used_and_expired, &at_the_cut_off, &live] {
        store.payment_sessions.insert(s).await.expect("insert");
    }

    let purged = store
        .payment_sessions
        .purge_expired(at(2_000))
        .await
        .expect("purge");
    assert_eq!(purged, 2);
    for (s, kept) in [
        (&expired, false),
        (&used_and_expired, false),
        (&at_the_cut_off, true),
        (&live, true),
    ] {
        let read = store.payment_sessions.get(&s.token_hash).await.unwrap();
        assert_eq!(read.is_some(), kept, "{:?}", s.expires_at);
    }
}
