use std::sync::atomic::{AtomicUsize, Ordering};

use futures::FutureExt;

use super::*;
use crate::checkout::state::CheckoutState;

/// `id`'s checkout in `state` at `version`.
fn record(id: CheckoutId, state: CheckoutState, version: i64) -> Checkout {
    Checkout {
        id,
        ..Checkout::sample(state, version)
    }
}

/// The version of what a waiter would look at next: `Some(Some(v))` handed, `Some(None)` a
/// read, `None` nothing new.
fn next_look(waiting: &Subscription<'_>) -> Option<Option<i64>> {
    waiting.news().map(|look| match look {
        Look::Handed(checkout) => Some(checkout.version),
        Look::Read => None,
    })
}

/// Whether a wake-up registered now would fire from what `change` does.
fn wakes(waiting: &Subscription<'_>, change: impl FnOnce()) -> bool {
    let woken = waiting.waiting.notify.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    change();
    woken.now_or_never().is_some()
}

#[test]
fn entries_live_exactly_as_long_as_their_subscriptions() {
    let waiters = Waiters::default();
    let id = CheckoutId::new();
    let a = waiters.subscribe(id);
    let b = waiters.subscribe(id);
    assert_eq!(waiters.len(), 1);
    drop(a);
    assert_eq!(waiters.len(), 1);
    drop(b);
    assert_eq!(waiters.len(), 0);
    waiters.wake(id);
    waiters.hand(&record(id, CheckoutState::Reserved, 1));
    assert_eq!(waiters.len(), 0);
}

/// The waiting loop as `wait_settled` runs it, over a database read that is counted: a
/// record handed over after the first read settles the wait with no second read.
#[tokio::test]
async fn a_waiter_handed_a_settled_record_returns_it_without_a_read() {
    let waiters = Waiters::default();
    let id = CheckoutId::new();
    let reads = AtomicUsize::new(0);
    let first_read = Notify::new();
    let waiting = waiters.subscribe(id);
    let patience = Patience {
        deadline: Instant::now() + Duration::from_secs(30),
        // Never within the test: only a wake-up can end the wait early.
        recheck: Duration::from_secs(3600),
    };
    let stopping = CancellationToken::new();
    let wait = waiting.retry_until(patience, &stopping, async |handed| {
        let current = match handed {
            Some(checkout) => checkout,
            None => {
                reads.fetch_add(1, Ordering::SeqCst);
                first_read.notify_one();
                let stored = record(id, CheckoutState::Reserving, 1);
                waiting.saw(stored.version);
                stored
            }
        };
        Ok::<_, ()>(match current.state.is_pending() {
            true => Err(current),
            false => Ok(current),
        })
    });
    let write = async {
        first_read.notified().await;
        // The driver's intermediate write, its notification coming back, then the settling
        // write.
        waiters.hand(&record(id, CheckoutState::Reserving, 2));
        tokio::task::yield_now().await;
        waiters.announce(id, 2);
        tokio::task::yield_now().await;
        waiters.hand(&record(id, CheckoutState::Reserved, 3));
    };
    let (settled, ()) =
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(wait, write) })
            .await
            .expect("the handed record ended the wait");
    let settled = settled.expect("no error").expect("settled");
    assert_eq!(
        (settled.state, settled.version),
        (CheckoutState::Reserved, 3)
    );
    assert_eq!(reads.load(Ordering::SeqCst), 1, "only the first look reads");
}

#[test]
fn a_change_not_handed_clears_the_handed_record() {
    let waiters = Waiters::default();
    let id = CheckoutId::new();
    let waiting = waiters.subscribe(id);
    waiting.read_anyway();
    waiting.saw(1);

    waiters.hand(&record(id, CheckoutState::Reserving, 2));
    assert!(wakes(&waiting, || waiters.wake(id)));
    assert_eq!(
        next_look(&waiting),
        Some(None),
        "a change of unknown version: read"
    );

    waiters.hand(&record(id, CheckoutState::Reserving, 3));
    assert!(wakes(&waiting, || waiters.announce(id, 4)));
    assert_eq!(
        next_look(&waiting),
        Some(None),
        "another replica's version: read"
    );

    waiters.hand(&record(id, CheckoutState::Reserving, 5));
    assert!(wakes(&waiting, || waiters.wake_all()));
    assert_eq!(next_look(&waiting), Some(None), "a lost listener: read");
    // Once read, nothing is left to look at.
    assert_eq!(next_look(&waiting), None);
}

#[test]
fn a_version_not_newer_is_ignored() {
    let waiters = Waiters::default();
    let id = CheckoutId::new();
    let waiting = waiters.subscribe(id);
    waiting.read_anyway();
    waiting.saw(1);

    assert!(wakes(&waiting, || {
        waiters.hand(&record(id, CheckoutState::Reserving, 3))
    }));
    // An older write handed late, and the notification of the handed one coming back: no
    // wake-up, and the waiter keeps what it was handed.
    assert!(!wakes(&waiting, || {
        waiters.hand(&record(id, CheckoutState::Reserved, 2))
    }));
    assert!(!wakes(&waiting, || waiters.announce(id, 3)));
    assert!(!wakes(&waiting, || waiters.announce(id, 2)));
    assert_eq!(next_look(&waiting), Some(Some(3)));
    assert_eq!(next_look(&waiting), None, "handed once");
    // A newer one is another replica's change.
    assert!(wakes(&waiting, || waiters.announce(id, 4)));
    assert_eq!(next_look(&waiting), Some(None));
}

#[test]
fn a_version_a_waiter_has_read_costs_it_no_read() {
    let waiters = Waiters::default();
    let id = CheckoutId::new();
    let waiting = waiters.subscribe(id);
    // Its first read found version 5: the notifications of versions 4 and 5 (written before
    // it subscribed, by this replica or another) wake it, but give it nothing to read.
    waiting.read_anyway();
    waiting.saw(5);
    assert!(wakes(&waiting, || waiters.announce(id, 4)));
    assert_eq!(next_look(&waiting), None);
    waiters.announce(id, 5);
    assert_eq!(next_look(&waiting), None);
    // Another waiter that has read nothing yet still reads.
    let other = waiters.subscribe(id);
    assert_eq!(next_look(&other), Some(None));
    waiters.announce(id, 6);
    assert_eq!(next_look(&waiting), Some(None));
}

#[test]
fn a_notification_that_overtakes_its_writes_answer_costs_no_read() {
    let waiters = Waiters::default();
    let id = CheckoutId::new();
    let waiting = waiters.subscribe(id);
    waiting.read_anyway();
    waiting.saw(1);
    let writing = waiters.writing(id, 2);
    assert!(!wakes(&waiting, || waiters.announce(id, 2)));
    assert!(wakes(&waiting, || {
        writing.hand(&record(id, CheckoutState::Reserved, 2))
    }));
    assert_eq!(next_look(&waiting), Some(Some(2)));
    // A write that got no answer (it failed, or was dropped mid-way) may have let another
    // replica's change of that version pass as its own: everyone reads.
    let writing = waiters.writing(id, 3);
    assert!(!wakes(&waiting, || waiters.announce(id, 3)));
    assert!(wakes(&waiting, || drop(writing)));
    assert_eq!(next_look(&waiting), Some(None));
}
