//! In-process wake-ups for requests waiting on a checkout (`Prefer: wait`). A write by this
//! replica wakes its waiters at once; writes by other replicas arrive as the store's change
//! notifications (`store::changes`), and a slow re-read covers any that were missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::ids::CheckoutId;

#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<CheckoutId, Arc<Notify>>>,
}

/// A waiter's registration; the entry is dropped with the last one, so the map only ever
/// holds checkouts someone is waiting on.
pub struct Subscription<'a> {
    waiters: &'a Waiters,
    id: CheckoutId,
    notify: Arc<Notify>,
}

impl Waiters {
    pub fn subscribe(&self, id: CheckoutId) -> Subscription<'_> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        Subscription {
            waiters: self,
            id,
            notify: map.entry(id).or_default().clone(),
        }
    }

    /// Wake everyone waiting on `id`.
    pub fn wake(&self, id: CheckoutId) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(&id) {
            n.notify_waiters();
        }
    }

    /// Wake everyone waiting on any checkout (changes may have been missed).
    pub fn wake_all(&self) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for n in map.values() {
            n.notify_waiters();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Subscription<'_> {
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.map.lock().unwrap_or_else(|p| p.into_inner());
        // Two holders left (the map and this one): nobody else waits.
        if map.get(&self.id).is_some_and(|n| Arc::strong_count(n) == 2) {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(waiters.len(), 0);
    }
}
