//! Replica liveness: whether this process's checkout leases still hold is decided by one row
//! of its own that it heartbeats, not by renewing every lease (see migration 0009). This module
//! owns that heartbeat, the reaping of replicas whose heartbeat went stale (by the database's
//! clock, so a replica with a skewed clock cannot shorten anyone's lease), and the tokens this
//! process's work holds its leases with, so that a lease whose work here stopped without
//! handing it back is found and freed while the replica itself lives on.
//!
//! Renewal writes therefore grow with the number of replicas, not with checkouts in flight: one
//! heartbeat (and one reaping statement) per replica per interval.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::{ReplicaStore, StoreResult};

/// How a replica proves it lives, and when others stop believing it.
#[derive(Debug, Clone, Copy)]
pub struct LivenessConfig {
    /// How often this replica heartbeats (and looks for dead ones).
    pub heartbeat: Duration,
    /// A replica whose last heartbeat is older than this (by the database's clock) is dead:
    /// its leases are free.
    pub dead_after: Duration,
}

/// Dead replicas' rows are kept this long, then forgotten.
const FORGET_DEAD_AFTER: Duration = Duration::from_secs(24 * 3600);

/// This process as a replica: its name, the lease tokens its work holds, its pace.
pub struct Liveness {
    replica_id: String,
    config: LivenessConfig,
    held: Mutex<HashSet<String>>,
    /// Notified when a reaping freed some other replica's leases: the sweeper looks at once.
    reaped: Notify,
    /// Whether stopping retires this replica (its leases free at once). Not while its work is
    /// still running: that work may still send upstream.
    retire_on_stop: std::sync::atomic::AtomicBool,
}

impl Liveness {
    pub fn new(replica_id: String, config: LivenessConfig) -> Arc<Self> {
        Arc::new(Self {
            replica_id,
            config,
            held: Mutex::new(HashSet::new()),
            reaped: Notify::new(),
            retire_on_stop: std::sync::atomic::AtomicBool::new(true),
        })
    }

    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    /// A fresh lease owner token of this replica (`{replica id}/{random}`), held until dropped.
    pub fn token(self: &Arc<Self>) -> LeaseToken {
        let owner = format!("{}/{}", self.replica_id, uuid::Uuid::new_v4().simple());
        self.held_set().insert(owner.clone());
        LeaseToken {
            owner,
            liveness: self.clone(),
        }
    }

    /// Whether some work of this process still holds `owner`.
    pub fn holds(&self, owner: &str) -> bool {
        self.held_set().contains(owner)
    }

    /// Returns when a reaping has freed another replica's leases (or at once if one did since
    /// the last call).
    pub async fn reaped(&self) {
        self.reaped.notified().await;
    }

    /// The first heartbeat: done before this replica takes any lease, so none of its leases
    /// ever names an unregistered replica.
    pub async fn register(&self, replicas: &dyn ReplicaStore) -> StoreResult<()> {
        replicas.heartbeat(&self.replica_id).await
    }

    /// Heartbeat every interval until `stop`, marking dead the replicas whose heartbeat went
    /// stale; then retire (a clean stop frees this replica's remaining leases at once).
    ///
    /// After this replica could not heartbeat (the database was unreachable), it reaps no one
    /// until it has heartbeated for `dead_after` again: the others were most likely cut off
    /// too, and need that long to show they live.
    pub async fn run(
        self: Arc<Self>,
        replicas: Arc<dyn ReplicaStore>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) {
        let mut reaping_from = Some(Instant::now());
        loop {
            match replicas.heartbeat(&self.replica_id).await {
                Ok(()) => {
                    if reaping_from.is_some_and(|at| Instant::now() >= at) {
                        self.reap(&*replicas, &metrics).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not heartbeat; this replica's leases lapse if it goes on");
                    reaping_from = None;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(self.config.heartbeat) => {}
            }
            if reaping_from.is_none() {
                reaping_from = Some(Instant::now() + self.config.dead_after);
            }
        }
        if !self
            .retire_on_stop
            .load(std::sync::atomic::Ordering::Acquire)
        {
            tracing::warn!(
                "work still running at shutdown: this replica's leases lapse when its heartbeat goes stale"
            );
            return;
        }
        if let Err(e) = replicas.retire(&self.replica_id).await {
            tracing::warn!(error = %e, "could not retire this replica; its leases lapse when its heartbeat goes stale");
        }
    }

    /// Stopping will not retire this replica: some of its work is still running and may still
    /// send upstream, so its leases must lapse only `dead_after` after it stops heartbeating,
    /// not at once (found by review: a retired replica's reservation, still queued for the
    /// quota, went out after another replica had failed the checkout and deleted its cart).
    pub fn keep_leases_on_stop(&self) {
        self.retire_on_stop
            .store(false, std::sync::atomic::Ordering::Release);
    }

    async fn reap(&self, replicas: &dyn ReplicaStore, metrics: &Metrics) {
        match replicas
            .reap(&self.replica_id, self.config.dead_after, FORGET_DEAD_AFTER)
            .await
        {
            Ok(dead) if !dead.is_empty() => {
                tracing::warn!(replicas = ?dead, "replicas stopped heartbeating; their checkouts are taken over");
                metrics.replicas_reaped(dead.len() as u64);
                self.reaped.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for dead replicas"),
        }
    }

    fn held_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent whatever panicked while holding it (one insert or remove).
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The owner name a piece of work takes a checkout lease with. While it lives, this replica
/// knows the lease is being worked on; once dropped (the work finished, failed, or was itself
/// dropped mid-way), a lease still naming it in the database is an orphan the sweeper frees.
pub struct LeaseToken {
    owner: String,
    liveness: Arc<Liveness>,
}

impl Deref for LeaseToken {
    type Target = str;

    fn deref(&self) -> &str {
        &self.owner
    }
}

impl std::fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.owner)
    }
}

impl Drop for LeaseToken {
    fn drop(&mut self) {
        self.liveness.held_set().remove(&self.owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn liveness() -> Arc<Liveness> {
        Liveness::new(
            "replica-a".into(),
            LivenessConfig {
                heartbeat: Duration::from_secs(1),
                dead_after: Duration::from_secs(3),
            },
        )
    }

    /// Stopping retires the replica (its leases free at once), unless its work is still
    /// running: then it stays alive until its heartbeat goes stale.
    #[tokio::test]
    async fn stopping_retires_unless_work_is_still_running() {
        let store = crate::store::Store::connect(&crate::tools::testdb::fresh_sqlite_url())
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        for keep in [false, true] {
            let liveness = liveness();
            if keep {
                liveness.keep_leases_on_stop();
            }
            let stop = CancellationToken::new();
            stop.cancel();
            // One heartbeat, then the stop: retired, or not.
            liveness
                .clone()
                .run(store.replicas.clone(), Arc::new(Metrics::new()), stop)
                .await;
            // A replica still alive is one another can mark dead once its heartbeat is stale;
            // a retired one is not. `witness` heartbeats after it: once the witness is
            // reaped, replica-a's heartbeat is stale too, and is reaped unless retired.
            store.replicas.heartbeat("witness").await.expect("witness");
            // Every reap's marks are kept: replica-a, older, can go stale one reap before it.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let mut reaped = Vec::new();
            while !reaped.iter().any(|r| r == "witness") && std::time::Instant::now() < deadline {
                reaped.extend(
                    store
                        .replicas
                        .reap("reaper", Duration::ZERO, Duration::from_secs(86_400))
                        .await
                        .expect("reap"),
                );
                tokio::task::yield_now().await;
            }
            let mut expected = vec!["witness".to_owned()];
            if keep {
                expected.push("replica-a".into());
            }
            reaped.sort();
            expected.sort();
            assert_eq!(reaped, expected, "kept leases: {keep}");
        }
    }

    #[test]
    fn a_token_names_the_replica_and_is_held_until_dropped() {
        let liveness = liveness();
        let token = liveness.token();
        assert!(token.starts_with("replica-a/"), "{token:?}");
        let owner = token.to_string();
        assert!(liveness.holds(&owner));
        let other = liveness.token();
        assert_ne!(&*other, owner.as_str(), "tokens are unique");
        drop(token);
        assert!(!liveness.holds(&owner), "still held after the drop");
        assert!(liveness.holds(&other));
    }
}
