//! Admission of every Partner-API call, in the order an API gateway applies it: apikey, quota
//! (sliding 1 s window per apikey, quota headers on every answer, named as the dialect's
//! `quota_headers` says), OAuth bearer token,
//! then `True-Client-IP` for ticketing and polling calls; then the fault plan
//! ([`super::faults`]). Produces the [`Call`] a handler works with, which also turns the
//! handler's [`Reply`] into the HTTP response (adding the headers, applying a delay or dropping
//! the connection when a fault says so).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse};

use super::dialect::QuotaHeaders;
use super::faults::{self, Effect, FaultKind, Operation};
use super::polling;
use super::reply::{self, Reply};
use super::state::Shared;

const WINDOW: Duration = Duration::from_secs(1);

/// The `Rate-Limit` of a `rate_limit` fault when the sandbox has no quota configured: the
/// gateway's default `upstream.requests_per_second`.
const NOMINAL_LIMIT: f64 = 5.0;

/// Which admission rules apply beyond the apikey and quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Any call that needs a bearer token when OAuth is required.
    Plain,
    /// Ticketing and polling calls: bearer token and `True-Client-IP`.
    Ticketing,
    /// `POST /oauth/accesstoken` itself: no bearer token.
    TokenEndpoint,
}

impl Access {
    fn of(op: Operation) -> Self {
        use Operation::*;
        match op {
            Oauth => Self::TokenEndpoint,
            OpenCart | Reserve | Payment | Purchase | Delete | Poll => Self::Ticketing,
            Any | Event | Captcha | Certificate | Unredeemed => Self::Plain,
        }
    }
}

/// Arrivals and admitted requests of the last second (real time: clients pace themselves by
/// their own clocks, not by the sandbox's settable one).
#[derive(Debug, Default)]
pub struct QuotaWindow {
    arrivals: VecDeque<Instant>,
    admitted: VecDeque<Instant>,
    /// The first arrival: whole seconds of `SandboxStats::requests_by_second` count from it.
    first: Option<Instant>,
}

/// The values of the `Rate-Limit*` headers for one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RateHeaders {
    pub limit: f64,
    pub available: u64,
    pub over: bool,
    pub reset_epoch_ms: i64,
}

fn trim(window: &mut VecDeque<Instant>, now: Instant) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        window.pop_front();
    }
}

impl QuotaWindow {
    /// The whole second since the first arrival that `now` falls in.
    pub fn second_of(&mut self, now: Instant) -> usize {
        let first = *self.first.get_or_insert(now);
        usize::try_from(now.duration_since(first).as_secs()).unwrap_or(usize::MAX)
    }

    /// Records an arrival; returns how many arrived within the last second, this one included.
    /// The busiest sliding second always ends at an arrival, so the maximum of these is exact.
    pub fn arrive(&mut self, now: Instant) -> u64 {
        trim(&mut self.arrivals, now);
        self.arrivals.push_back(now);
        self.arrivals.len() as u64
    }

    /// Admits the request if fewer than `limit` were admitted in the last second. Refused
    /// requests do not use quota, so a client that backs off recovers.
    pub fn admit(&mut self, now: Instant, limit: f64) -> RateHeaders {
        trim(&mut self.admitted, now);
        let over = (self.admitted.len() + 1) as f64 > limit;
        if !over {
            self.admitted.push_back(now);
        }
        let frees_in = self.admitted.front().map_or(Duration::ZERO, |t| {
            (*t + WINDOW).saturating_duration_since(now)
        });
        let capacity = limit.max(0.0).floor() as u64;
        RateHeaders {
            limit,
            available: capacity.saturating_sub(self.admitted.len() as u64),
            over,
            reset_epoch_ms: chrono::Utc::now().timestamp_millis() + frees_in.as_millis() as i64,
        }
    }
}

impl RateHeaders {
    /// The headers of a `rate_limit` fault: nothing available, reset `reset_ms` from now.
    fn exhausted(limit: f64, reset_ms: u64) -> Self {
        let reset_ms = i64::try_from(reset_ms).unwrap_or(i64::MAX);
        Self {
            limit,
            available: 0,
            over: true,
            reset_epoch_ms: chrono::Utc::now()
                .timestamp_millis()
                .saturating_add(reset_ms),
        }
    }
}

/// An admitted call.
#[derive(Debug, Clone)]
pub struct Call {
    pub apikey: String,
    /// `scheme://host/partners/v1` (or `/partners-sandbox/v1`), as the client called it.
    pub origin: String,
    /// Answer this call with 202 and deliver its result through polling: polling is forced
    /// and the operation polls under the dialect ([`polling::polls`]).
    pub force_polling: bool,
    rate: Option<RateHeaders>,
    /// How the quota is told in headers.
    quota_headers: QuotaHeaders,
    /// A fault that lets the operation happen but changes how it is answered.
    effect: Option<Effect>,
}

impl Call {
    /// The HTTP answer to `reply`, late or never when a fault says so.
    pub async fn respond(&self, reply: Reply) -> HttpResponse {
        match self.effect {
            None => self.response(reply),
            Some(Effect::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                self.response(reply)
            }
            Some(Effect::DropConnection) => faults::dropped_connection(),
        }
    }

    /// True when the answer will not reach the client (`drop_after_commit`): a deferred
    /// operation must then not wait for polls that can never come.
    pub fn drops_answer(&self) -> bool {
        self.effect == Some(Effect::DropConnection)
    }

    /// `reply` with the `Rate-Limit*` headers, at once: refusals by the gate itself.
    fn response(&self, reply: Reply) -> HttpResponse {
        let reply = match &self.rate {
            Some(rate) => with_rate_headers(reply, rate, self.quota_headers),
            None => reply,
        };
        reply.into_response()
    }
}

/// The quota headers the dialect names; the same values under either name.
fn with_rate_headers(reply: Reply, rate: &RateHeaders, names: QuotaHeaders) -> Reply {
    let limit = if rate.limit.fract() == 0.0 {
        format!("{}", rate.limit as i64)
    } else {
        rate.limit.to_string()
    };
    match names {
        QuotaHeaders::RateLimit => reply
            .with_header("Rate-Limit", limit)
            .with_header("Rate-Limit-Available", rate.available.to_string())
            .with_header("Rate-Limit-Over", rate.over.to_string())
            .with_header("Rate-Limit-Reset", rate.reset_epoch_ms.to_string()),
        QuotaHeaders::RatelimitQuota => reply
            .with_header("Ratelimit-Quota-Limit", limit)
            .with_header("Ratelimit-Quota-Remaining", rate.available.to_string())
            .with_header("Ratelimit-Quota-Reset", rate.reset_epoch_ms.to_string()),
        QuotaHeaders::Omitted => reply,
    }
}

/// One query parameter, form-decoded: `%2B` becomes `+`, and a raw `+` becomes a space — so a
/// cart id that was not url-encoded is not found, as upstream behaves.
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn origin(req: &HttpRequest) -> String {
    let info = req.connection_info();
    let prefix = if req.path().starts_with("/partners-sandbox/v1") {
        "/partners-sandbox/v1"
    } else {
        "/partners/v1"
    };
    format!("{}://{}{prefix}", info.scheme(), info.host())
}

/// Applies every admission rule to a call of `op`, then the fault plan; `Err` is the finished
/// refusal (or failure, when a fault answers instead of the operation).
pub fn admit(shared: &Shared, req: &HttpRequest, op: Operation) -> Result<Call, HttpResponse> {
    let access = Access::of(op);
    let config = &shared.config;
    let now = shared.now();
    let mut state = shared.lock();
    state.stats.requests += 1;
    *state
        .stats
        .requests_by_operation
        .entry(op.name().to_owned())
        .or_default() += 1;

    let apikey = query_param(req, "apikey").unwrap_or_default();
    if apikey != config.apikey {
        return Err(reply::invalid_api_key().into_response());
    }

    let instant = Instant::now();
    let second = state.quota.second_of(instant);
    let by_second = &mut state.stats.requests_by_second;
    if by_second.len() <= second {
        by_second.resize(second.saturating_add(1), 0);
    }
    if let Some(count) = by_second.get_mut(second) {
        *count += 1;
    }
    let in_last_second = state.quota.arrive(instant);
    state.stats.max_requests_in_any_second =
        state.stats.max_requests_in_any_second.max(in_last_second);
    let rate = config
        .requests_per_second
        .map(|limit| state.quota.admit(instant, limit));
    let forced = config.force_polling
        || header(req, "X-TM-FORCE-POLLING").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut call = Call {
        apikey,
        origin: origin(req),
        force_polling: forced && polling::polls(op, &state.dialect),
        rate,
        quota_headers: state.dialect.quota_headers,
        effect: None,
    };
    if call.rate.as_ref().is_some_and(|r| r.over) {
        state.stats.quota_429s += 1;
        return Err(call.response(reply::quota_violation()));
    }

    if config.require_oauth && access != Access::TokenEndpoint {
        let token = header(req, "Authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let valid = token
            .and_then(|t| state.tokens.get(t))
            .is_some_and(|expires| *expires > now);
        if !valid {
            return Err(call.response(reply::invalid_access_token()));
        }
    }

    if access == Access::Ticketing
        && config.require_true_client_ip
        && header(req, "True-Client-IP").is_none_or(|v| v.trim().is_empty())
    {
        state.stats.missing_true_client_ip += 1;
        return Err(call.response(reply::invalid_input("Missing True-Client-IP header")));
    }

    state.expire_holds(now);
    let Some(kind) = state.faults.take(op) else {
        return Ok(call);
    };
    state.stats.record_fault(op, kind);
    match kind {
        FaultKind::Status { status } => {
            Err(call.response(faults::status_reply(status, state.dialect.server_errors)))
        }
        FaultKind::RateLimit { reset_ms } => {
            let limit = config.requests_per_second.unwrap_or(NOMINAL_LIMIT);
            call.rate = Some(RateHeaders::exhausted(limit, reset_ms));
            Err(call.response(reply::quota_violation()))
        }
        FaultKind::Latency { latency_ms } => {
            call.effect = Some(Effect::Delay(Duration::from_millis(latency_ms)));
            Ok(call)
        }
        FaultKind::DropAfterCommit => {
            call.effect = Some(Effect::DropConnection);
            Ok(call)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_admits_up_to_the_limit_per_sliding_second() {
        let mut q = QuotaWindow::default();
        let t0 = Instant::now();
        assert!(!q.admit(t0, 2.5).over);
        let second = q.admit(t0 + Duration::from_millis(100), 2.5);
        assert!(!second.over);
        assert_eq!(second.available, 0);
        assert!(q.admit(t0 + Duration::from_millis(200), 2.5).over);
        // The first admission leaves the window at t0 + 1 s.
        assert!(!q.admit(t0 + Duration::from_millis(1000), 2.5).over);
        assert!(q.admit(t0 + Duration::from_millis(1050), 2.5).over);
    }

    #[test]
    fn quota_headers_are_named_as_the_dialect_says() {
        let rate = RateHeaders {
            limit: 2.5,
            available: 1,
            over: false,
            reset_epoch_ms: 1_700_000_000_000,
        };
        let names = |style| -> Vec<(&'static str, String)> {
            with_rate_headers(Reply::empty(200), &rate, style).headers
        };
        assert_eq!(
            names(QuotaHeaders::RateLimit),
            [
                ("Rate-Limit", "2.5".to_owned()),
                ("Rate-Limit-Available", "1".to_owned()),
                ("Rate-Limit-Over", "false".to_owned()),
                ("Rate-Limit-Reset", "1700000000000".to_owned()),
            ]
        );
        assert_eq!(
            names(QuotaHeaders::RatelimitQuota),
            [
                ("Ratelimit-Quota-Limit", "2.5".to_owned()),
                ("Ratelimit-Quota-Remaining", "1".to_owned()),
                ("Ratelimit-Quota-Reset", "1700000000000".to_owned()),
            ]
        );
        assert!(names(QuotaHeaders::Omitted).is_empty());
    }

    #[test]
    fn arrivals_count_the_last_second() {
        let mut q = QuotaWindow::default();
        let t0 = Instant::now();
        assert_eq!(q.arrive(t0), 1);
        assert_eq!(q.arrive(t0 + Duration::from_millis(999)), 2);
        assert_eq!(q.arrive(t0 + Duration::from_millis(1500)), 2);
    }
}
