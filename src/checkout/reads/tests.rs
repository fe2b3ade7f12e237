use super::*;
use crate::checkout::state::CheckoutState;

fn read(version: i64) -> Arc<CheckoutRead> {
    Arc::new(CheckoutRead {
        checkout: Checkout::sample(CheckoutState::Reserved, version),
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

#[test]
fn an_announced_version_drops_only_an_older_entry() {
    let cache = ReadCache::own_writes_only();
    let id = CheckoutId::new();
    let ticket = cache.ticket(id).expect("a ticket");
    cache.fill(ticket, read(2));
    // Version 2 coming back (this replica's own write, read since): the entry stays.
    cache.announced(id, 2);
    assert_eq!(version_of(&cache, id), Some(2));
    // A read in flight across an announcement may predate it: not stored over the entry.
    let ticket = cache.ticket(id).expect("a ticket");
    cache.announced(id, 1);
    cache.fill(ticket, read(1));
    assert_eq!(version_of(&cache, id), Some(2));
    // A newer version (another replica's write): the entry goes.
    cache.announced(id, 3);
    assert_eq!(version_of(&cache, id), None);
}

#[test]
fn a_write_here_replaces_the_entry_and_spoils_reads_in_flight() {
    let cache = ReadCache::own_writes_only();
    let id = CheckoutId::new();
    let reading = cache.ticket(id).expect("a ticket");
    let writing = cache.ticket(id).expect("a ticket");
    cache.written(writing, read(2));
    assert_eq!(version_of(&cache, id), Some(2));
    // A read begun before the write (it may hold version 1) does not replace it.
    cache.fill(reading, read(1));
    assert_eq!(version_of(&cache, id), Some(2));
}

#[test]
fn a_write_that_raced_a_change_drops_the_entry() {
    let cache = ReadCache::following_changes();
    cache.listening();
    let id = CheckoutId::new();
    let ticket = cache.ticket(id).expect("a ticket");
    cache.fill(ticket, read(1));
    // Written at version 2 while another replica's version 3 was announced: 2 may be stale.
    let writing = cache.ticket(id).expect("a ticket");
    cache.announced(id, 3);
    cache.written(writing, read(2));
    assert_eq!(version_of(&cache, id), None);
    // Nor across a lost listener.
    let writing = cache.ticket(id).expect("a ticket");
    cache.lost();
    cache.listening();
    cache.written(writing, read(4));
    assert_eq!(version_of(&cache, id), None);
}

/// Another checkout whose id falls in the same stripe as `id`.
fn stripe_neighbour(id: CheckoutId) -> CheckoutId {
    let stripe = |id: CheckoutId| id.uuid().as_u64_pair().1 % STRIPES as u64;
    loop {
        let other = CheckoutId::new();
        if other != id && stripe(other) == stripe(id) {
            return other;
        }
    }
}

#[test]
fn the_echo_of_its_own_version_does_not_keep_a_write_or_read_out() {
    let cache = ReadCache::following_changes();
    cache.listening();
    let id = CheckoutId::new();
    // The notification of the write (version 2) is heard before the write's answer.
    let writing = cache.ticket(id).expect("a ticket");
    cache.announced(id, 2);
    cache.written(writing, read(2));
    assert_eq!(version_of(&cache, id), Some(2));
    // A read of version 3 that raced the announcement of version 3, or of an older one.
    let reading = cache.ticket(id).expect("a ticket");
    cache.announced(id, 3);
    cache.announced(id, 1);
    cache.fill(reading, read(3));
    assert_eq!(version_of(&cache, id), Some(3));
}

#[test]
fn a_neighbours_changes_do_not_spoil_a_read_until_they_crowd_the_log() {
    let cache = ReadCache::own_writes_only();
    let id = CheckoutId::new();
    let neighbour = stripe_neighbour(id);
    let ticket = cache.ticket(id).expect("a ticket");
    for _ in 0..RECENT {
        cache.invalidate(neighbour);
    }
    cache.fill(ticket, read(1));
    assert_eq!(version_of(&cache, id), Some(1));
    // One change more than the log holds since the ticket: whether one was this checkout's
    // cannot be told any more.
    cache.invalidate(id);
    let ticket = cache.ticket(id).expect("a ticket");
    for _ in 0..=RECENT {
        cache.invalidate(neighbour);
    }
    cache.fill(ticket, read(2));
    assert_eq!(version_of(&cache, id), None);
}

#[test]
fn an_older_read_finishing_last_does_not_replace_a_newer_entry() {
    let cache = ReadCache::own_writes_only();
    let id = CheckoutId::new();
    let slow = cache.ticket(id).expect("a ticket");
    let fast = cache.ticket(id).expect("a ticket");
    cache.fill(fast, read(3));
    cache.fill(slow, read(2));
    assert_eq!(version_of(&cache, id), Some(3));
}
