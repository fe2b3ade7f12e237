//! OAuth client credentials: one cached bearer token for the whole process, refreshed before
//! its one-hour expiry, one refresh at a time.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Refresh this long before upstream's stated expiry, so no request carries a token that
/// dies in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct BearerToken {
    pub value: SecretString,
    pub refresh_at: Instant,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

impl BearerToken {
    pub fn new(value: SecretString, expires_in: Duration) -> Self {
        Self {
            value,
            refresh_at: Instant::now() + expires_in.saturating_sub(REFRESH_MARGIN),
        }
    }
}

/// The cached token. The mutex is held across the refresh call on purpose: concurrent
/// callers wait for the one refresh instead of each asking upstream.
#[derive(Debug, Default)]
pub struct TokenCache {
    slot: Mutex<Option<BearerToken>>,
}

impl TokenCache {
    pub async fn get_or_refresh<F, Fut, E>(&self, refresh: F) -> Result<SecretString, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<BearerToken, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| t.refresh_at > Instant::now()) {
            return Ok(token.value.clone());
        }
        let token = refresh().await?;
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    /// Drop `rejected` if it is still the cached token (upstream said it is invalid); a
    /// token another task already replaced is left alone.
    pub async fn invalidate(&self, rejected: &SecretString) {
        let mut slot = self.slot.lock().await;
        if slot
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected.expose_secret())
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn fetch(counter: Arc<AtomicU32>, ttl: Duration) -> Result<BearerToken, ()> {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        Ok(BearerToken::new(SecretString::from(format!("t{n}")), ttl))
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(TokenCache::default());
        let calls = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_refresh(|| fetch(calls, Duration::from_secs(3600)))
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().expose_secret(), "t0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_before_expiry_and_after_invalidation() {
        let cache = TokenCache::default();
        let calls = Arc::new(AtomicU32::new(0));
        let ttl = Duration::from_secs(3600);
        let first = cache
            .get_or_refresh(|| fetch(calls.clone(), ttl))
            .await
            .unwrap();
        tokio::time::advance(ttl - REFRESH_MARGIN - Duration::from_secs(1)).await;
        let same = cache
            .get_or_refresh(|| fetch(calls.clone(), ttl))
            .await
            .unwrap();
        assert_eq!(same.expose_secret(), first.expose_secret());
        tokio::time::advance(Duration::from_secs(2)).await;
        let second = cache
            .get_or_refresh(|| fetch(calls.clone(), ttl))
            .await
            .unwrap();
        assert_eq!(second.expose_secret(), "t1");
        cache.invalidate(&second).await;
        let third = cache
            .get_or_refresh(|| fetch(calls.clone(), ttl))
            .await
            .unwrap();
        assert_eq!(third.expose_secret(), "t2");
    }
}
