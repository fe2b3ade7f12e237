//! Reading events (cached, single-flight) and the captcha page, each bounded by the caller's
//! wait: a request stuck behind the deployment's quota answers `rate_limited` instead of
//! hanging, while a shared event fetch goes on for whoever asks next.

use std::sync::Arc;
use std::time::Duration;

use super::catalog::{EventInfo, EventSnapshot};
use super::error::{CheckoutError, ErrorCode, Refusal};
use super::service::{CheckoutService, Requester};
use crate::upstream::{CaptchaPage, Priority};

impl CheckoutService {
    /// The event as partners see it now: its cached details and where `now` stands (on sale,
    /// maintenance window). Rendering is left to the caller, who may reuse an earlier
    /// rendering of the same snapshot.
    pub async fn event(
        self: &Arc<Self>,
        event_id: &str,
        wait: Duration,
    ) -> Result<EventSnapshot, CheckoutError> {
        let info = self.event_info(event_id, wait).await?;
        let now = self.now();
        let window = self.catalog.hours.status(info.timezone, now);
        Ok(EventSnapshot { info, now, window })
    }

    pub async fn captcha(
        &self,
        who: &Requester,
        wait: Duration,
    ) -> Result<CaptchaPage, CheckoutError> {
        // Nothing is shared or changed upstream: a caller who stops waiting just leaves the
        // quota queue.
        let ctx = self.context(who, Priority::Reserve);
        match tokio::time::timeout(wait, self.api.captcha(&ctx)).await {
            Ok(page) => Ok(page?),
            Err(_) => Err(quota_queue_refusal()),
        }
    }

    /// Event details (cached), fetched by a task of its own so that a caller whose wait runs
    /// out while the quota queue is long does not cancel the fetch others share; it answers
    /// `rate_limited` and finds the details cached when it retries.
    pub(super) async fn event_info(
        self: &Arc<Self>,
        event_id: &str,
        wait: Duration,
    ) -> Result<Arc<EventInfo>, CheckoutError> {
        if let Some(info) = self.catalog.cached(event_id) {
            return Ok(info);
        }
        let this = self.clone();
        let id = event_id.to_owned();
        let fetch = self
            .runtime
            .spawn(async move { this.catalog.get(&this.api, &id).await });
        match tokio::time::timeout(wait, fetch).await {
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

/// The caller's wait ran out while its upstream call queued behind the deployment's quota.
fn quota_queue_refusal() -> CheckoutError {
    CheckoutError::Refused(Refusal {
        code: ErrorCode::RateLimited,
        message: "upstream's quota is saturated and the request waited as long as allowed; \
                  retry shortly"
            .into(),
        upstream_code: None,
        checkout_id: None,
        retry_after: Some(1),
    })
}
