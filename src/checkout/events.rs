//! Reading events (cached, single-flight) and the captcha page (cached as long as upstream
//! allows), each bounded by the caller's wait: a request stuck behind the deployment's quota
//! answers `rate_limited` instead of hanging, while a shared event fetch goes on for whoever
//! asks next. Both reads count against the asking user's share of the quota queue.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::catalog::{EventInfo, EventSnapshot};
use super::error::{CheckoutError, ErrorCode, Refusal};
use super::model::UserId;
use super::service::{CheckoutService, Requester};
use crate::upstream::{CaptchaPage, Priority};

impl CheckoutService {
    /// The event as partners see it now: its cached details and where `now` stands (on sale,
    /// maintenance window). Rendering is left to the caller, who may reuse an earlier
    /// rendering of the same snapshot.
    pub async fn event(
        self: &Arc<Self>,
        asker: &UserId,
        event_id: &str,
        wait: Duration,
    ) -> Result<EventSnapshot, CheckoutError> {
        let info = self.event_info(event_id, asker, wait).await?;
        let now = self.now();
        let window = self.catalog.hours.status(info.timezone, now);
        Ok(EventSnapshot { info, now, window })
    }

    pub async fn captcha(
        &self,
        who: &Requester,
        wait: Duration,
    ) -> Result<CaptchaPage, CheckoutError> {
        if let Some(page) = self.captcha_page.fresh() {
            return Ok(page);
        }
        // Nothing is shared or changed upstream: a caller who stops waiting just leaves the
        // quota queue.
        // A read, in the read lane: a flood of captcha requests never takes a turn from a
        // reservation.
        let ctx = self.context(who, Priority::Refresh);
        match tokio::time::timeout(read_wait(wait), self.api.captcha(&ctx)).await {
            Ok(page) => {
                let page = page?;
                self.captcha_page.keep(&page);
                Ok(page)
            }
            Err(_) => Err(quota_queue_refusal()),
        }
    }

    /// Event details (cached), fetched by a task of its own so that a caller whose wait runs
    /// out while the quota queue is long does not cancel the fetch others share; it answers
    /// `rate_limited` and finds the details cached when it retries.
    pub(super) async fn event_info(
        self: &Arc<Self>,
        event_id: &str,
        asker: &UserId,
        wait: Duration,
    ) -> Result<Arc<EventInfo>, CheckoutError> {
        if let Some(known) = self.catalog.cached(event_id) {
            return known;
        }
        let this = self.clone();
        let id = event_id.to_owned();
        let asker = self.source_account_id(asker);
        let fetch = self
            .runtime
            .spawn(async move { this.catalog.get(&this.api, &id, Some(&asker)).await });
        match tokio::time::timeout(read_wait(wait), fetch).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => {
                tracing::error!(error = %join, "event fetch task failed");
                Err(CheckoutError::refused(
                    ErrorCode::Internal,
                    "the event could not be read",
                ))
            }
            Err(_) => Err(quota_queue_refusal()),
        }
    }
}

/// The event lookup a mutating call needs first (its maintenance window) gets a few seconds
/// even under `Prefer: wait=0`: the short wait is about the operation, which then answers 202,
/// not a reason to refuse it.
pub(super) fn prerequisite(wait: Duration) -> Duration {
    wait.max(Duration::from_secs(5))
}

/// How long a read that must ask upstream (an uncached event, the captcha page) waits at the
/// least, whatever `Prefer: wait` says: a wait of 0 could never be met by a fetch, and its
/// refusal would say the quota is busy when nothing is (found by review). A second covers an
/// ordinary fetch; a longer queue still answers `rate_limited` while the fetch goes on.
const READ_FLOOR: Duration = Duration::from_secs(1);

fn read_wait(wait: Duration) -> Duration {
    wait.max(READ_FLOOR)
}

/// The caller's wait ran out while its upstream call queued behind the deployment's quota, or
/// upstream was slow to answer it.
fn quota_queue_refusal() -> CheckoutError {
    CheckoutError::Refused(Refusal {
        code: ErrorCode::RateLimited,
        message: "upstream did not answer within the wait (its quota is busy, or it is slow); \
                  the read goes on: retry shortly"
            .into(),
        upstream_code: None,
        checkout_id: None,
        retry_after: Some(1),
    })
}

/// The captcha page as last read, kept as long as its `Cache-Control` allows (see
/// `CaptchaPage::cacheable_for`). One page for everyone: upstream's is the same for every
/// user (the site key and a script), so the cache is a single entry.
#[derive(Default)]
pub(super) struct CaptchaCache(Mutex<Option<(Instant, CaptchaPage)>>);

impl CaptchaCache {
    fn fresh(&self) -> Option<CaptchaPage> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_ref()
            .filter(|(until, _)| Instant::now() < *until)
            .map(|(_, page)| page.clone())
    }

    fn keep(&self, page: &CaptchaPage) {
        if page.cacheable_for.is_zero() {
            return;
        }
        let until = Instant::now() + page.cacheable_for;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((until, page.clone()));
    }
}
