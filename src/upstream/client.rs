//! [`PartnerApi`]: one method per Partner-API call. Every request passes the quota limiter,
//! carries the apikey (and a bearer token when OAuth is configured), `True-Client-IP` and
//! `Original-User-Id`; answers are parsed into [`Reply`] (done, or "poll this URL after
//! `wait`") or a typed [`UpstreamError`]. These calls never wait out a poll themselves: the
//! caller persists the polling URL first, then polls ("persist, then call"); only `follow`
//! does, for operations whose polling URL is not persisted.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use serde::de::{DeserializeOwned, IgnoredAny};
use url::Url;

use super::auth::TokenCache;
use super::error::UpstreamError;
use super::quota::{Priority, QuotaLimiter};
use super::reply::{Exchange, decode_done, decode_reply, error_from, extract_site_key};
pub use super::reply::{PollTicket, Reply};
use super::transport::{Call, Target};
use super::wire;
use crate::metrics::Metrics;

/// How the client reaches upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// e.g. `https://app.ticketmaster.com/partners/v1` (no trailing slash needed).
    pub base_url: Url,
    pub apikey: SecretString,
    pub client_secret: Option<SecretString>,
    pub force_polling: bool,
    pub timeout: Duration,
}

/// Who a call is made for, and how urgent it is.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The end user's address: `True-Client-IP`.
    pub client_ip: String,
    /// `Original-User-Id`: a pseudonym of the partner's user (the `source_account_id`).
    pub user_id: Option<String>,
    pub priority: Priority,
}

/// The captcha page to render to the user.
#[derive(Debug, Clone)]
pub struct CaptchaPage {
    pub html: String,
    pub site_key: Option<String>,
    /// How long the page may be served again without asking upstream.
    pub cacheable_for: Duration,
}

/// The captcha page is kept this long when upstream says nothing about caching it (the docs
/// show no `Cache-Control`): short, because the FAQ says the site key can change.
pub const CAPTCHA_DEFAULT_CACHE: Duration = Duration::from_secs(60);

/// How long upstream allows the captcha page to be served again: `max-age` (at most an hour),
/// nothing under `no-store`, `no-cache` or `private` (the gateway serves many users, so it is
/// a shared cache), [`CAPTCHA_DEFAULT_CACHE`] without a header.
fn captcha_cacheable_for(headers: &reqwest::header::HeaderMap) -> Duration {
    let Some(value) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return CAPTCHA_DEFAULT_CACHE;
    };
    let mut max_age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        match directive.as_str() {
            "no-store" | "no-cache" | "private" => return Duration::ZERO,
            d => {
                if let Some(secs) = d.strip_prefix("max-age=") {
                    max_age = secs.trim_matches('"').parse::<u64>().ok();
                }
            }
        }
    }
    max_age.map_or(CAPTCHA_DEFAULT_CACHE, |secs| {
        Duration::from_secs(secs.min(3600))
    })
}

/// What a cart deletion returns when done: nothing worth keeping.
pub type Deleted = IgnoredAny;

pub struct PartnerApi {
    pub(super) http: reqwest::Client,
    pub(super) settings: UpstreamSettings,
    pub(super) tokens: TokenCache,
    pub(super) limiter: Arc<QuotaLimiter>,
    /// Last `Rate-Limit-Available` upstream reported (-1 = never reported).
    pub(super) quota_available: AtomicI64,
    pub(super) metrics: Arc<Metrics>,
}

impl PartnerApi {
    pub fn new(
        settings: UpstreamSettings,
        limiter: Arc<QuotaLimiter>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5))
            // A redirect would carry the apikey (in the query) to wherever it points; the docs
            // document none, so one is an answer to report, not to follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("checkout-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Transport {
                maybe_sent: false,
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            settings,
            tokens: TokenCache::default(),
            limiter,
            quota_available: AtomicI64::new(-1),
            metrics,
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn base_url(&self) -> &Url {
        &self.settings.base_url
    }

    /// Claim the quota slot of the call about to follow while the caller writes what must be
    /// durable before it (see [`super::QuotaLimiter::claim_ahead`]).
    pub async fn claim_ahead(&self) {
        self.limiter.claim_ahead().await;
    }

    /// The quota slot of the call about to follow, for the caller to claim in the statement
    /// of the write that must be durable before it (see [`super::QuotaLimiter::ahead`]).
    pub fn quota_ahead(&self) -> Option<super::quota::Ahead<'_>> {
        self.limiter.ahead()
    }

    /// The last `Rate-Limit-Available` upstream reported, if any.
    pub fn quota_available(&self) -> Option<i64> {
        Some(self.quota_available.load(Ordering::Relaxed)).filter(|v| *v >= 0)
    }

    /// A "Polling: No" answer read, with an unreadable one noted.
    fn done<T: DeserializeOwned>(&self, ex: Exchange) -> Result<T, UpstreamError> {
        let operation = ex.operation;
        self.noted(operation, decode_done(ex))
    }

    /// A "Polling: Yes" answer (or a poll's) read, with an unreadable one noted.
    fn reply<T: DeserializeOwned>(&self, ex: Exchange) -> Result<Reply<T>, UpstreamError> {
        let operation = ex.operation;
        self.noted(operation, decode_reply(ex))
    }

    /// An answer the gateway cannot read is logged at warn, with the operation and what was
    /// wrong (never the body), and counted; the partner only ever sees `upstream_unavailable`.
    pub(super) fn noted<T>(
        &self,
        operation: &'static str,
        read: Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        if let Err(UpstreamError::Decode { reason }) = &read {
            tracing::warn!(upstream.operation = operation, %reason, "upstream answer could not be read");
            self.metrics.upstream_unreadable(operation);
        }
        read
    }

    // ------------------------------------------------------------ the documented calls

    /// Event details, for `asker` (a partner user's pseudonym) whose share of the quota queue
    /// the read counts against; refused up front past it.
    pub async fn event(
        &self,
        event_id: &str,
        asker: Option<&str>,
    ) -> Result<wire::EventResponse, UpstreamError> {
        let path = format!("event/{}", encode_segment(event_id));
        let ex = self
            .send(
                Call::<()>::get(Target::Path(&path), None, Priority::Refresh).refusable_for(asker),
            )
            .await?;
        self.done(ex)
    }

    pub async fn captcha(&self, ctx: &CallContext) -> Result<CaptchaPage, UpstreamError> {
        let ex = self
            .send(
                Call::<()>::get(Target::Path("captcha"), Some(ctx), ctx.priority)
                    .refusable_for(None),
            )
            .await?;
        if !ex.status.is_success() {
            return Err(error_from(ex.status, &ex.body));
        }
        let html = String::from_utf8_lossy(&ex.body).into_owned();
        // The docs put the site key in a header; the page carries it too.
        let site_key = ex
            .headers
            .get("x-tm-captcha-v2-sitekey")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| extract_site_key(&html));
        let cacheable_for = captcha_cacheable_for(&ex.headers);
        Ok(CaptchaPage {
            html,
            site_key,
            cacheable_for,
        })
    }

    /// `POST /cart`: trade a captcha solution for a cart session. Marked "Polling: No", but
    /// the FAQ says all transactional calls poll: a polling answer is handed back to follow.
    pub async fn open_cart(
        &self,
        ctx: &CallContext,
        token: &str,
    ) -> Result<Reply<wire::CartSession>, UpstreamError> {
        let body = wire::CaptchaSolution {
            token: token.to_owned(),
        };
        let ex = self
            .send(Call {
                method: Method::POST,
                target: Target::Path("cart"),
                query: &[],
                body: Some(&body),
                ctx: Some(ctx),
                priority: ctx.priority,
                pollable: false,
                owner: None,
                refusable: false,
            })
            .await?;
        self.reply(ex)
    }

    pub async fn reserve(
        &self,
        ctx: &CallContext,
        request: &wire::ReserveRequest,
    ) -> Result<Reply<wire::CartResponse>, UpstreamError> {
        let ex = self
            .send(Call::put(Target::Path("cart/tickets"), request, ctx, true))
            .await?;
        self.reply(ex)
    }

    pub async fn certificate(
        &self,
        ctx: &CallContext,
        cart_id: &str,
    ) -> Result<wire::Certificate, UpstreamError> {
        let ex = self
            .send(Call::<()> {
                query: &[("cart_id", cart_id)],
                ..Call::get(Target::Path("certificate"), Some(ctx), ctx.priority)
            })
            .await?;
        self.metrics.certificate_refreshed();
        self.done(ex)
    }

    /// `PUT /cart/payment` (the docs say it does not poll; a polling answer is handed back).
    pub async fn add_payment(
        &self,
        ctx: &CallContext,
        request: &wire::PaymentRequest,
    ) -> Result<Reply<wire::CartResponse>, UpstreamError> {
        let ex = self
            .send(Call::put(Target::Path("cart/payment"), request, ctx, false))
            .await?;
        self.reply(ex)
    }

    /// `PUT /cart`: commit. The caller must treat `outcome_unknown()` errors as "maybe
    /// purchased" and reconcile, never re-send.
    pub async fn purchase(
        &self,
        ctx: &CallContext,
        request: &wire::PurchaseRequest,
    ) -> Result<Reply<wire::PurchaseResponse>, UpstreamError> {
        let ex = self
            .send(Call::put(Target::Path("cart"), request, ctx, true))
            .await?;
        self.reply(ex)
    }

    pub async fn delete_cart(
        &self,
        ctx: &CallContext,
        cart_id: &str,
    ) -> Result<Reply<Deleted>, UpstreamError> {
        let ex = self
            .send(Call::<()> {
                method: Method::DELETE,
                query: &[("cart_id", cart_id)],
                pollable: true,
                ..Call::get(Target::Path("cart"), Some(ctx), ctx.priority)
            })
            .await?;
        self.reply(ex)
    }

    /// Follow a polling URL. Only URLs below the configured base are followed.
    pub async fn poll<T: DeserializeOwned>(
        &self,
        ctx: &CallContext,
        url: &str,
    ) -> Result<Reply<T>, UpstreamError> {
        let target = self.polling_target(url)?;
        let ex = self
            .send(Call::<()>::get(
                Target::Absolute(target),
                Some(ctx),
                ctx.priority,
            ))
            .await?;
        if ex.status == reqwest::StatusCode::NOT_FOUND {
            return Err(UpstreamError::PollGone);
        }
        self.reply(ex)
    }

    pub async fn unredeemed_orders(
        &self,
        query: UnredeemedQuery,
    ) -> Result<wire::UnredeemedOrders, UpstreamError> {
        let (name, days) = match query {
            UnredeemedQuery::DaysFromPurchase(n) => ("days_from_purchase", n.to_string()),
            UnredeemedQuery::DaysBeforeEvent(n) => ("days_before_event", n.to_string()),
        };
        let ex = self
            .send(Call::<()> {
                query: &[(name, &days)],
                ..Call::get(Target::Path("orders/unredeemed"), None, Priority::Job)
            })
            .await?;
        self.done(ex)
    }
}

/// `GET /orders/unredeemed` takes one of two windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnredeemedQuery {
    DaysFromPurchase(u32),
    DaysBeforeEvent(u32),
}

fn encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
