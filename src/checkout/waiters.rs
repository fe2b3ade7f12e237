//! In-process wake-ups for requests waiting on a checkout (`Prefer: wait`). A write by this
//! replica wakes its waiters at once; writes by other replicas are seen by a short re-read
//! interval, so waiting works across replicas without extra infrastructure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::ids::CheckoutId;

#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<CheckoutId, Arc<Notify>>>,
}

impl Waiters {
    /// The wake-up handle for `id` (created on first use).
    pub fn handle(&self, id: CheckoutId) -> Arc<Notify> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id).or_default().clone()
    }

    /// Wake everyone waiting on `id`, and forget the handle when nobody else holds it.
    pub fn wake(&self, id: CheckoutId) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(&id) {
            n.notify_waiters();
            if Arc::strong_count(n) == 1 {
                map.remove(&id);
            }
        }
    }
}
