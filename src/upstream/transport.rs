//! How a call reaches upstream: the quota limiter, the bearer token, the request with its
//! headers, safe retries of reads, 429s waited out, and the quota headers heeded on every
//! answer. [`PartnerApi`]'s documented calls (in `client`) are built on [`Call`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

use super::auth::BearerToken;
use super::backoff::backoff;
use super::client::{CallContext, PartnerApi};
use super::error::{FaultCode, UpstreamError};
use super::quota::{Claim, Priority};
use super::reply::{Exchange, classify_fault, error_from, header_i64, transport_error};
use super::wire;
use crate::metrics::{UpstreamCall, UpstreamOutcome};

/// How many times a 429 is waited out and the call repeated: a 429 is refused before
/// upstream acts, so repeating is safe for every call, purchases included.
const MAX_RATE_LIMIT_RETRIES: u32 = 3;

/// Retries of a read after a broken exchange or a 5xx.
const SAFE_RETRIES: u32 = 3;

pub(super) struct Call<'a, B: Serialize + ?Sized> {
    pub(super) method: Method,
    /// Path below the base URL, or an absolute polling URL.
    pub(super) target: Target<'a>,
    pub(super) query: &'a [(&'a str, &'a str)],
    pub(super) body: Option<&'a B>,
    pub(super) ctx: Option<&'a CallContext>,
    pub(super) priority: Priority,
    /// Ask upstream to answer with polling (only on calls the docs mark "Polling: Yes").
    pub(super) pollable: bool,
    /// Whom the send is for in the quota's turns, when not the `ctx`'s user (a shared event
    /// read goes for the partner who asked first).
    pub(super) owner: Option<&'a str>,
    /// A partner's read: refused up front past its user's share of the quota queue.
    pub(super) refusable: bool,
}

pub(super) enum Target<'a> {
    Path(&'a str),
    Absolute(Url),
}

impl PartnerApi {
    pub(super) fn polling_target(&self, url: &str) -> Result<Url, UpstreamError> {
        let url = Url::parse(url).map_err(|_| UpstreamError::ForeignPollingUrl)?;
        let base = &self.settings.base_url;
        let same_origin = url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default();
        if !same_origin {
            return Err(UpstreamError::ForeignPollingUrl);
        }
        Ok(url)
    }

    pub(super) fn url_for(&self, target: &Target<'_>, query: &[(&str, &str)]) -> Url {
        let mut url = match target {
            Target::Absolute(url) => url.clone(),
            Target::Path(path) => {
                let mut url = self.settings.base_url.clone();
                let joined = format!("{}/{}", url.path().trim_end_matches('/'), path);
                url.set_path(&joined);
                url
            }
        };
        let has_key = url.query_pairs().any(|(k, _)| k == "apikey");
        {
            // `query_pairs_mut` percent-encodes: a cart id's `+`, `/` and `=` survive.
            let mut pairs = url.query_pairs_mut();
            if !has_key {
                pairs.append_pair("apikey", self.settings.apikey.expose_secret());
            }
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    pub(super) async fn send<B: Serialize + ?Sized>(
        &self,
        call: Call<'_, B>,
    ) -> Result<Exchange, UpstreamError> {
        let mut rate_limited = 0;
        let mut token_retried = false;
        let mut safe_retries = 0;
        loop {
            // Whatever the token request met, this call has not left.
            let bearer = self
                .bearer()
                .await
                .map_err(|cause| UpstreamError::NoToken {
                    cause: Box::new(cause),
                })?;
            // Held through the exchange: a user's sends in flight count against its share.
            let (waited, _slot) = self.limiter.acquire(call.claim()).await?;
            self.metrics.quota_wait(call.priority.as_str(), waited);
            let ex = match self.exchange(&call, bearer.as_ref()).await {
                // Reads (event details, certificates, orders, polls) change nothing upstream:
                // a broken exchange or a 5xx is simply asked again.
                Err(e) if call.is_read() && safe_retries < SAFE_RETRIES => {
                    safe_retries += 1;
                    tracing::debug!(error = %e, "retrying an upstream read");
                    tokio::time::sleep(backoff(safe_retries)).await;
                    continue;
                }
                other => other?,
            };
            if call.is_read() && ex.status.is_server_error() && safe_retries < SAFE_RETRIES {
                safe_retries += 1;
                tokio::time::sleep(backoff(safe_retries)).await;
                continue;
            }
            match classify_fault(&ex) {
                Some(FaultCode::InvalidAccessToken) if !token_retried && bearer.is_some() => {
                    // The token was revoked or expired early: one fresh token, one retry.
                    if let Some(rejected) = &bearer {
                        self.tokens.invalidate(rejected).await;
                    }
                    token_retried = true;
                }
                Some(FaultCode::QuotaViolation) | None
                    if ex.status == StatusCode::TOO_MANY_REQUESTS =>
                {
                    rate_limited += 1;
                    let reset = ex.reset_at();
                    let pause = reset
                        .and_then(|at| (at - Utc::now()).to_std().ok())
                        .unwrap_or(Duration::from_secs(1));
                    self.limiter
                        .pause_until(tokio::time::Instant::now() + pause)
                        .await;
                    if rate_limited > MAX_RATE_LIMIT_RETRIES {
                        return Err(UpstreamError::RateLimited { reset_at: reset });
                    }
                }
                _ => return Ok(ex),
            }
        }
    }

    async fn exchange<B: Serialize + ?Sized>(
        &self,
        call: &Call<'_, B>,
        bearer: Option<&SecretString>,
    ) -> Result<Exchange, UpstreamError> {
        let span = tracing::info_span!(
            "upstream",
            upstream.operation = call.operation_name(),
            http.request.method = %call.method,
            http.response.status_code = tracing::field::Empty,
        );
        tracing::Instrument::instrument(self.exchange_in_span(call, bearer), span).await
    }

    async fn exchange_in_span<B: Serialize + ?Sized>(
        &self,
        call: &Call<'_, B>,
        bearer: Option<&SecretString>,
    ) -> Result<Exchange, UpstreamError> {
        let url = self.url_for(&call.target, call.query);
        let op = call.operation_name();
        let mut req = self
            .http
            .request(call.method.clone(), url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.bearer_auth(token.expose_secret());
        }
        if let Some(ctx) = call.ctx {
            req = req.header("True-Client-IP", &ctx.client_ip);
            if let Some(user) = &ctx.user_id {
                req = req.header("Original-User-Id", user);
            }
        }
        if call.pollable && self.settings.force_polling {
            req = req.header("X-TM-FORCE-POLLING", "true");
        }
        if let Some(body) = call.body {
            req = req.json(body);
        }
        let started = std::time::Instant::now();
        let answered = async {
            let resp = req.send().await.map_err(transport_error)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(transport_error)?.to_vec();
            Ok::<_, UpstreamError>((status, headers, body))
        }
        .await;
        let (status, headers, body) = match answered {
            Ok(answer) => answer,
            Err(e) => {
                self.metrics.upstream_call(UpstreamCall {
                    operation: op,
                    outcome: UpstreamOutcome::Transport,
                    error_code: None,
                    elapsed: started.elapsed(),
                });
                return Err(e);
            }
        };
        self.metrics.upstream_call(UpstreamCall {
            operation: op,
            outcome: outcome_of(status),
            error_code: (!status.is_success())
                .then(|| error_from(status, &body).upstream_code())
                .flatten()
                .and_then(|c| u32::try_from(c).ok()),
            elapsed: started.elapsed(),
        });
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        tracing::debug!(
            upstream.operation = op,
            http.status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "upstream call"
        );
        let exchange = Exchange {
            operation: op,
            status,
            headers,
            body,
        };
        self.heed_quota_headers(&exchange).await;
        Ok(exchange)
    }

    /// Upstream's word on the quota, on every answer: remember what is left, and when it says
    /// nothing is (`Rate-Limit-Available: 0` or `Rate-Limit-Over: true`, or the
    /// `Ratelimit-Quota-*` family's remaining count at 0), send nothing more until its reset —
    /// before a 429 has to say so.
    async fn heed_quota_headers(&self, ex: &Exchange) {
        let available = header_i64(&ex.headers, "rate-limit-available")
            .or_else(|| header_i64(&ex.headers, "ratelimit-quota-remaining"))
            .or_else(|| header_i64(&ex.headers, "ratelimit-quota-available"));
        if let Some(available) = available {
            self.quota_available.store(available, Ordering::Relaxed);
        }
        let over = ex
            .headers
            .get("rate-limit-over")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let spent = over || available == Some(0);
        // A 429 is paused by `send` itself.
        if spent
            && ex.status != StatusCode::TOO_MANY_REQUESTS
            && let Some(pause) = ex.reset_at().and_then(|at| (at - Utc::now()).to_std().ok())
        {
            self.limiter
                .pause_until(tokio::time::Instant::now() + pause.min(Duration::from_secs(60)))
                .await;
        }
    }

    async fn bearer(&self) -> Result<Option<SecretString>, UpstreamError> {
        let Some(secret) = &self.settings.client_secret else {
            return Ok(None);
        };
        self.tokens
            .get_or_refresh(|| self.fetch_token(secret))
            .await
            .map(Some)
    }

    async fn fetch_token(&self, secret: &SecretString) -> Result<BearerToken, UpstreamError> {
        let url = self.url_for(&Target::Path("oauth/accesstoken"), &[]);
        // The gateway's own work: never refused.
        let claim = Claim::system(Priority::Critical);
        let (waited, _slot) = self.limiter.acquire(claim).await?;
        self.metrics.quota_wait(Priority::Critical.as_str(), waited);
        self.metrics.token_refreshed();
        let resp = self
            .http
            .post(url)
            .basic_auth(
                self.settings.apikey.expose_secret(),
                Some(secret.expose_secret()),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(transport_error)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport_error)?;
        if !status.is_success() {
            return Err(error_from(status, &body));
        }
        if let Some(refusal) = super::reply::refusal_in_success(&body) {
            return Err(refusal);
        }
        let token: wire::AccessTokenResponse = self.noted("token", super::reply::decode(&body))?;
        crate::telemetry::redact::register_secret(&token.access_token);
        Ok(BearerToken::new(
            SecretString::from(token.access_token),
            token_lifetime(&token.expires_in),
        ))
    }
}

/// How long a token is used: `expires_in` as upstream states it (a number, or a string holding
/// one — the docs show `"3599"`). An unreadable or absurd value is not guessed up: a short
/// lifetime costs a token request now and then; a long one would send dead tokens.
fn token_lifetime(expires_in: &str) -> Duration {
    const FALLBACK: Duration = Duration::from_secs(600);
    const LONGEST: Duration = Duration::from_secs(24 * 3600);
    match expires_in.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs).min(LONGEST),
        _ => {
            tracing::warn!(
                upstream.operation = "token",
                "the access token's expires_in is not a number of seconds; using 10 minutes"
            );
            FALLBACK
        }
    }
}

impl<'a, B: Serialize + ?Sized> Call<'a, B> {
    pub(super) fn get(
        target: Target<'a>,
        ctx: Option<&'a CallContext>,
        priority: Priority,
    ) -> Self {
        Self {
            method: Method::GET,
            target,
            query: &[],
            body: None,
            ctx,
            priority,
            pollable: false,
            owner: None,
            refusable: false,
        }
    }

    pub(super) fn put(
        target: Target<'a>,
        body: &'a B,
        ctx: &'a CallContext,
        pollable: bool,
    ) -> Self {
        Self {
            method: Method::PUT,
            target,
            query: &[],
            body: Some(body),
            ctx: Some(ctx),
            priority: ctx.priority,
            pollable,
            owner: None,
            refusable: false,
        }
    }

    /// A partner's read, refused up front past `owner`'s share of the quota queue.
    pub(super) fn refusable_for(mut self, owner: Option<&'a str>) -> Self {
        self.refusable = true;
        self.owner = owner.or(self.owner);
        self
    }

    /// The send's place in the quota's queue.
    fn claim(&self) -> Claim<'a> {
        Claim {
            priority: self.priority,
            owner: self
                .owner
                .or_else(|| self.ctx.and_then(|c| c.user_id.as_deref())),
            refusable: self.refusable,
        }
    }

    /// A GET: safe to repeat.
    pub(super) fn is_read(&self) -> bool {
        self.method == Method::GET
    }

    /// A low-cardinality name for logs and metrics (never the URL: it carries the apikey).
    pub(super) fn operation_name(&self) -> &'static str {
        match (&self.method, &self.target) {
            (_, Target::Absolute(_)) => "poll",
            (&Method::GET, Target::Path(p)) if p.starts_with("event/") => "event",
            (&Method::GET, Target::Path("captcha")) => "captcha",
            (&Method::GET, Target::Path("certificate")) => "certificate",
            (&Method::GET, Target::Path("orders/unredeemed")) => "unredeemed_orders",
            (&Method::POST, Target::Path("cart")) => "open_cart",
            (&Method::PUT, Target::Path("cart/tickets")) => "reserve",
            (&Method::PUT, Target::Path("cart/payment")) => "payment",
            (&Method::PUT, Target::Path("cart")) => "purchase",
            (&Method::DELETE, Target::Path("cart")) => "delete_cart",
            _ => "other",
        }
    }
}

fn outcome_of(status: StatusCode) -> UpstreamOutcome {
    if status.is_success() {
        UpstreamOutcome::Ok
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        UpstreamOutcome::RateLimited
    } else {
        UpstreamOutcome::HttpError
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::Metrics;
    use crate::upstream::client::UpstreamSettings;
    use crate::upstream::quota::QuotaLimiter;

    fn api(base: &str) -> PartnerApi {
        PartnerApi::new(
            UpstreamSettings {
                base_url: Url::parse(base).unwrap(),
                apikey: SecretString::from("key"),
                client_secret: None,
                force_polling: false,
                timeout: Duration::from_secs(1),
            },
            Arc::new(QuotaLimiter::new(5.0)),
            Arc::new(Metrics::new()),
        )
        .unwrap()
    }

    #[test]
    fn token_lifetimes_come_as_numbers_or_text() {
        assert_eq!(token_lifetime("3599"), Duration::from_secs(3599));
        assert_eq!(token_lifetime("3600"), Duration::from_secs(3600));
        assert_eq!(token_lifetime(""), Duration::from_secs(600));
        assert_eq!(token_lifetime("soon"), Duration::from_secs(600));
        assert_eq!(token_lifetime("1e12"), Duration::from_secs(24 * 3600));
    }

    #[test]
    fn cart_ids_are_url_encoded_and_the_apikey_added() {
        let api = api("https://app.example/partners/v1");
        let url = api.url_for(&Target::Path("cart"), &[("cart_id", "a+b/c=")]);
        assert_eq!(
            url.as_str(),
            "https://app.example/partners/v1/cart?apikey=key&cart_id=a%2Bb%2Fc%3D"
        );
    }

    #[test]
    fn polling_urls_elsewhere_are_refused() {
        let api = api("https://app.example/partners/v1");
        assert!(
            api.polling_target("https://evil.example/partners/v1/polling/1")
                .is_err()
        );
        assert!(
            api.polling_target("http://app.example/partners/v1/polling/1")
                .is_err()
        );
        assert!(
            api.polling_target("https://app.example/partners/v1/polling/1?apikey=key")
                .is_ok()
        );
    }
}
