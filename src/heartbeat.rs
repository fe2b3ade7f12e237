//! Keeping a claim alive while its holder works: a checkout's lease, a job run's lease, an
//! `Idempotency-Key`. One loop serves them all: renew every period until the store says the
//! claim is no longer this holder's.

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

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
