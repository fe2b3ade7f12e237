//! Keeping a claim alive while its holder works: a job run's lease, an `Idempotency-Key` (a
//! checkout's lease needs none: it holds while its replica heartbeats, see `liveness`). One
//! loop serves them all: renew every period until the store says the claim is no longer this
//! holder's. [`Guard`] runs it beside the work and stops it when dropped, however the work ends.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// Calls `renew` every `every` (the first time one period from now) until it answers
/// `Ok(false)`: the claim is gone (lost, settled, purged) and there is nothing left to keep.
/// A renewal that fails is logged as "could not renew `what`" and tried again at the next
/// period: a claim lapses only after several missed ones.
pub async fn renew_every<F, Fut, E>(every: Duration, what: &str, mut renew: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, E>>,
    E: Display,
{
    loop {
        tokio::time::sleep(every).await;
        match renew().await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(error = %e, "could not renew {what}"),
        }
    }
}

/// [`renew_every`] on a task of its own, stopped when the guard drops: when the holder's work
/// finishes, fails, or is itself dropped (a request whose client went away). A renewal loop
/// that outlived its work would keep a claim nobody works on alive forever.
#[must_use = "the renewals stop when the guard drops"]
pub struct Guard(tokio::task::JoinHandle<()>);

impl Guard {
    pub fn spawn<F, Fut, E>(every: Duration, what: String, renew: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<bool, E>> + Send,
        E: Display,
    {
        Self(tokio::spawn(async move {
            renew_every(every, &what, renew).await;
            tracing::debug!("{what} is no longer held");
        }))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_dropped_guard_renews_no_more() {
        let calls = std::sync::Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let guard = Guard::spawn(Duration::from_secs(1), "a test claim".into(), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, String>(true) }
        });
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        drop(guard);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "renewed after the drop");
    }

    #[tokio::test(start_paused = true)]
    async fn renews_each_period_through_errors_until_the_claim_is_gone() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        renew_every(Duration::from_secs(2), "a test claim", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(true),
                1 => Err("database away"),
                _ => Ok(false),
            }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(6));
    }
}
