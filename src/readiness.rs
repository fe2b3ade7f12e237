//! Whether this replica is ready to serve, as `/readyz` reports it: a state refreshed in the
//! background at most once a second, so probes never touch the database. A flood of probes
//! costs nothing, and with the database down a probe answers 503 at once instead of waiting
//! for a connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::StoreAdmin;

/// How often the database is asked.
const EVERY: Duration = Duration::from_secs(1);
/// A check slower than this counts as the database not answering.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// A result older than this (the refresh loop stuck or stopped) is not trusted.
const STALE_AFTER: Duration = Duration::from_secs(3);

/// What the last check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ready,
    MigrationsPending,
    DatabaseUnreachable,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::MigrationsPending => "migrations pending",
            Self::DatabaseUnreachable => "database unreachable",
        }
    }
}

pub struct Readiness {
    admin: Arc<dyn StoreAdmin>,
    last: Mutex<(Instant, Health)>,
}

impl Readiness {
    /// Checked once before it is handed out, so the first probe has an answer.
    pub async fn new(admin: Arc<dyn StoreAdmin>) -> Arc<Self> {
        let readiness = Arc::new(Self {
            admin,
            last: Mutex::new((Instant::now(), Health::DatabaseUnreachable)),
        });
        readiness.check().await;
        readiness
    }

    /// The state as last checked; not ready when that was too long ago.
    pub fn current(&self) -> Health {
        let (at, health) = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        if at.elapsed() > STALE_AFTER {
            Health::DatabaseUnreachable
        } else {
            health
        }
    }

    /// Ask the database once (bounded by [`CHECK_TIMEOUT`]) and remember the answer.
    pub async fn check(&self) {
        let health = match tokio::time::timeout(CHECK_TIMEOUT, self.admin.ready()).await {
            Ok(Ok(true)) => Health::Ready,
            Ok(Ok(false)) => Health::MigrationsPending,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness check failed");
                Health::DatabaseUnreachable
            }
            Err(_) => {
                tracing::warn!("readiness check timed out");
                Health::DatabaseUnreachable
            }
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = (Instant::now(), health);
    }

    /// Refresh every [`EVERY`] until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => self.check().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store admin whose answer the test sets; counts the checks.
    struct Scripted {
        answer: Mutex<Option<bool>>,
        checks: std::sync::atomic::AtomicU32,
    }

    #[async_trait::async_trait]
    impl StoreAdmin for Scripted {
        async fn migrate(&self) -> crate::store::StoreResult<()> {
            Ok(())
        }

        async fn ready(&self) -> crate::store::StoreResult<bool> {
            self.checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let answer = *self.answer.lock().unwrap();
            match answer {
                Some(ready) => Ok(ready),
                // The database never answers.
                None => std::future::pending().await,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probes_read_the_last_check_and_the_database_is_asked_once_a_second() {
        let admin = Arc::new(Scripted {
            answer: Mutex::new(Some(true)),
            checks: Default::default(),
        });
        let readiness = Readiness::new(admin.clone()).await;
        let stop = CancellationToken::new();
        tokio::spawn(readiness.clone().run(stop.clone()));
        for _ in 0..1000 {
            assert_eq!(readiness.current(), Health::Ready);
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let checks = admin.checks.load(std::sync::atomic::Ordering::Relaxed);
        assert!((3..=5).contains(&checks), "{checks} checks in 2.5 s");

        // The database stops answering: not ready within a check or two, never hanging.
        *admin.answer.lock().unwrap() = None;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(readiness.current(), Health::DatabaseUnreachable);

        *admin.answer.lock().unwrap() = Some(false);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(readiness.current(), Health::MigrationsPending);
        stop.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_nobody_refreshed_is_not_trusted() {
        let admin = Arc::new(Scripted {
            answer: Mutex::new(Some(true)),
            checks: Default::default(),
        });
        let readiness = Readiness::new(admin).await;
        assert_eq!(readiness.current(), Health::Ready);
        tokio::time::sleep(STALE_AFTER + Duration::from_millis(10)).await;
        assert_eq!(readiness.current(), Health::DatabaseUnreachable);
    }
}
