//! [`AppContext`]: what the parts of the application share — the store, the upstream client,
//! the metrics, the clock, and this process as a replica — built once at start-up
//! (`startup::parts::build`) and handed to the checkout service, the HTTP layer and the jobs.
//! Nothing reaches it through another part (no `service.store`): whoever needs the store is
//! given the context.
//!
//! Settings are not in it: each part is given its own typed section when it is built
//! (`ServiceConfig`, `WorkerConfig`, `UnredeemedSettings`, `AuthSettings`, …), so no part below
//! the wiring depends on the whole configuration (or on `config` at all).

use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::upstream::PartnerApi;

/// The shared parts. Cheap to clone (every part is a handle).
#[derive(Clone)]
pub struct AppContext {
    pub store: Store,
    pub upstream: Arc<PartnerApi>,
    pub metrics: Arc<Metrics>,
    pub clock: SharedClock,
    /// This process as a replica: its name in leases (checkouts, job runs, deliveries), its
    /// heartbeat, and the lease tokens its work holds.
    pub liveness: Arc<Liveness>,
    /// Notified when a webhook message was queued — by a job run or a checkout's notice — so
    /// the delivery worker sends it at once.
    pub notices_queued: Arc<Notify>,
}
