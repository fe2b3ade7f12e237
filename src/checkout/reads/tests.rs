use chrono::{TimeZone, Utc};

use super::*;
use crate::checkout::model::UserId;
use crate::checkout::state::CheckoutState;

fn read(version: i64) -> Arc<CheckoutRead> {
    let at = Utc
        .timestamp_opt(1_800_000_000, 0)
        .single()
        .expect("a valid time");
    Arc::new(CheckoutRead {
        checkout: Checkout {
            id: CheckoutId::new(),
            user_id: UserId::parse("user-1").expect("a valid user"),
            event_id: "evt-1".into(),
            state: CheckoutState::Reserved,
            cart_id: None,
            requested: Vec::new(),
            lines: Vec::new(),
            totals: None,
            hold_expires_at: None,
            payment: None,
            order_id: None,
            failure: None,
            operation: None,
            poll: None,
            release_requested: false,
            client_ip: "203.0.113.7".into(),
            lease: None,
            version,
            created_at: at,
            updated_at: at,
            purchase_started_at: None,
            next_check_at: None,
        },
        order: None,
    })
}

fn version_of(cache: &ReadCache, id: CheckoutId) -> Option<i64> {
    cache.get(id).map(|r| r.checkout.version)
}

#[test]
fn a_read_is_served_until_its_checkout_changes() {
    let cache = ReadCache::own_writes_only();
    let id = CheckoutId::new();
    let ticket = cache.ticket(id).expect("own writes only: always storing");
    cache.fill(ticket, read(1));
    assert_eq!(version_of(&cache, id), Some(1));
    cache.invalidate(id);
    assert_eq!(version_of(&cache, id), None);
}

#[test]
fn a_read_that_raced_a_change_is_not_stored() {
    let cache = ReadCache::own_writes_only();
    let id = CheckoutId::new();
    // Read from the database, then the change is announced, then the (old) read arrives.
    let ticket = cache.ticket(id).expect("a ticket");
    cache.invalidate(id);
    cache.fill(ticket, read(1));
    assert_eq!(version_of(&cache, id), None);
    // A read begun after the change is stored.
    let ticket = cache.ticket(id).expect("a ticket");
    cache.fill(ticket, read(2));
    assert_eq!(version_of(&cache, id), Some(2));
}

#[test]
fn nothing_is_stored_or_served_without_a_listener() {
    let cache = ReadCache::following_changes();
    let id = CheckoutId::new();
    assert!(!cache.is_serving());
    assert!(cache.ticket(id).is_none());
    cache.listening();
    let ticket = cache.ticket(id).expect("listening: storing");
    cache.fill(ticket, read(1));
    assert_eq!(version_of(&cache, id), Some(1));
    // Lost: the entry is never served again, even once listening anew.
    cache.lost();
    assert_eq!(version_of(&cache, id), None);
    assert!(cache.ticket(id).is_none());
    cache.listening();
    assert_eq!(version_of(&cache, id), None);
}

#[test]
fn a_read_that_spans_a_lost_listener_is_not_stored() {
    let cache = ReadCache::following_changes();
    let id = CheckoutId::new();
    cache.listening();
    let ticket = cache.ticket(id).expect("a ticket");
    cache.lost();
    cache.listening();
    cache.fill(ticket, read(1));
    assert_eq!(version_of(&cache, id), None);
}

#[test]
fn other_checkouts_reads_survive_an_invalidation() {
    let cache = ReadCache::own_writes_only();
    let (a, b) = (CheckoutId::new(), CheckoutId::new());
    let ticket = cache.ticket(a).expect("a ticket");
    cache.fill(ticket, read(1));
    cache.invalidate(b);
    assert_eq!(version_of(&cache, a), Some(1));
}
