//! The public HTTP API: routes only — extractors, DTOs, problem+json mapping. No business
//! logic lives here; handlers parse, call `checkout`, and render.
//!
//! # Layout
//! - [`checkouts`], [`payment_session`], [`events`], [`orders`], [`health`]: the routes.
//! - [`hosted`]: the hosted payment page (`/pay/…`, HTML, outside the OpenAPI document).
//! - [`auth`]: the JWT user extractor; [`client_ip`]: the end user's address.
//! - [`dto`], [`body`], [`parse`]: wire shapes of the public API and body parsing;
//!   [`html`]: escaping for the HTML pages.
//! - [`problem`]: errors as RFC 9457 problem+json; [`problem_types`]: the page each
//!   problem's `type` resolves to (`/problems/{code}`).
//! - [`openapi`]: the OpenAPI document, built as routes are registered, and `/docs`.
//! - [`state`]: what handlers share.
//! - [`scrape`]: `/metrics` for the admin listener; [`admin`]: the admin listener's routes
//!   (`/admin/*` behind the admin token) and its own OpenAPI document.
//! - [`observe`]: request metrics; [`request_id`]: `X-Request-Id`.
//! - `example`: the example partner app at `/example/` (feature `dev-tools`, served only when
//!   `example_app.enabled`); not part of the API and not in its OpenAPI document.

pub mod admin;
pub mod admission;
pub mod auth;
pub mod body;
pub mod checkouts;
pub mod client_ip;
pub mod dto;
pub mod events;
#[cfg(feature = "dev-tools")]
pub mod example;
pub mod health;
pub mod hosted;
pub mod html;
pub mod idempotency;
pub mod openapi;
pub mod orders;
pub mod parse;
pub mod payment_session;
pub mod problem;
pub mod problem_types;
pub mod rendered;
pub mod scrape;
pub mod state;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::checkout::error::ErrorCode;
use crate::telemetry::redact;
use openapi::Routes;
use problem::ApiError;

/// Every public route, each documented as it is registered (see [`openapi::Routes`]), with
/// JSON/path/query errors as problem+json.
pub fn configure(cfg: &mut ServiceConfig) {
    problem_extractors(cfg);
    let mut routes = Routes::new(cfg);
    health::routes(&mut routes);
    events::routes(&mut routes);
    checkouts::routes(&mut routes);
    payment_session::routes(&mut routes);
    orders::routes(&mut routes);
    problem_types::routes(&mut routes);
    openapi::docs::routes(&mut routes);
}

/// JSON, path and query extraction errors as problem+json (both listeners).
fn problem_extractors(cfg: &mut ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().error_handler(problem::json_error))
        .app_data(web::PathConfig::default().error_handler(problem::path_error))
        .app_data(web::QueryConfig::default().error_handler(problem::query_error));
}

/// Adds the public routes to `app`, and returns it with the OpenAPI document they make.
pub fn register<T: openapi::AppService>(
    app: actix_web::App<T>,
) -> (actix_web::App<T>, utoipa::openapi::OpenApi) {
    let (app, document) = openapi::register(app, openapi::base(), configure);
    // The payment page is HTML for browsers, not an API operation: not in the document.
    (app.configure(hosted::routes), document)
}

/// The methods each documented route takes, read from the OpenAPI document the routes make:
/// a path that is a route, asked with another method, is told so (405 with `Allow`), not that
/// the route does not exist.
pub struct RouteMethods(Vec<(actix_web::dev::ResourceDef, Vec<&'static str>)>);

impl RouteMethods {
    pub fn of(document: &utoipa::openapi::OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, has)| has.then_some(method))
                .collect();
                (actix_web::dev::ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self(routes)
    }

    /// The methods the route matching `path` takes, if one does.
    fn allowed(&self, path: &str) -> Option<&[&'static str]> {
        self.0
            .iter()
            .find(|(route, _)| route.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

/// Unknown routes answer problem+json too; a known route asked with a method it does not take
/// answers 405 with `Allow`.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let allowed = req
        .app_data::<web::Data<RouteMethods>>()
        .and_then(|routes| routes.allowed(req.match_info().as_str()))
        .filter(|methods| !methods.is_empty());
    let Some(methods) = allowed else {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    };
    let allow = methods.join(", ");
    let mut resp = actix_web::ResponseError::error_response(&ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("this route takes {allow}"),
    ));
    if let Ok(value) = HeaderValue::from_str(&allow) {
        resp.headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    Ok(resp)
}

/// Every public request is timed into `http.server.request.duration`, labelled by the route
/// template (never the raw path: ids would make every checkout its own series), and logged in
/// one access line (target `access`): method, route template, status, latency, request id and
/// problem code (the path is the request span's; query and headers are never logged).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let request_id = req.extensions().get::<RequestId>().cloned();
    let metrics = req
        .app_data::<web::Data<state::AppState>>()
        .map(|state| state.context.metrics.clone());
    let resp = next.call(req).await?;
    let status = resp.response().status().as_u16();
    let latency = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.http_request(method.as_str(), &route, status, latency);
    }
    let problem = resp
        .response()
        .extensions()
        .get::<problem::ProblemCode>()
        .copied();
    tracing::info!(
        target: "access",
        // As strings, not `%` (formatted through `Display` into the line char by char).
        method = method.as_str(),
        route = route.as_str(),
        status,
        // To the microsecond: shorter to format and write than all of an f64's digits.
        latency_ms = (latency.as_micros() as f64) / 1000.0,
        request_id = request_id.as_ref().map_or("", |id| id.0.as_str()),
        problem = problem.map_or("", |p| p.0.as_str()),
        "request"
    );
    Ok(resp)
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in its extensions for the access log.
#[derive(Debug, Clone)]
struct RequestId(String);

/// Every response carries `X-Request-Id`: the caller's (when sane) or a new one.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trace_id = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_of);
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars().all(|c| c.is_ascii_graphic())
                && !crate::card::contains_grouped_card_number(v)
        })
        .map(str::to_owned)
        .or_else(|| trace_id.clone())
        .unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        trace_id = trace_id.as_deref().unwrap_or_default(),
        method = %req.method(),
        path = %logged_path(&req)
    );
    // With OTLP export on, the caller's trace continues through this request's spans.
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, parent);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = tracing::Instrument::instrument(next.call(req), span).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(resp)
}

/// The path as logs may show it: a payment page's path holds its session token (the page's
/// only credential), so those are named by their route template (`/pay/{token}`) instead.
fn logged_path(req: &ServiceRequest) -> std::borrow::Cow<'_, str> {
    // A card number typed into a path in groups (`/v1/events/4588-8832-…`) is not masked by the
    // log's redaction, which looks for unbroken runs: such a path is logged as its route.
    let hosted = req.path().starts_with(hosted::PREFIX);
    if hosted || crate::card::contains_grouped_card_number(req.path()) {
        let unmatched = if hosted { "/pay/…" } else { "…" };
        let template = req.match_pattern().unwrap_or_else(|| unmatched.to_owned());
        return std::borrow::Cow::Owned(template);
    }
    std::borrow::Cow::Borrowed(req.path())
}

/// A new request id: 32 hex digits (the shape of a W3C trace id) from a random per-process
/// prefix and a counter, so that making one costs no system call, as a v4 UUID's read of the
/// OS random source does on every request. The count is spread over its 16 digits (times an
/// odd constant: still one id per count) and an id with a card number's length of decimal
/// digits in a row is skipped. The log redaction masks such a run when it passes the Luhn
/// check, and the zero-padded count (`…0000000000012345`) was one in many access lines: their
/// request ids were logged as `[REDACTED]`, and each such line took the redaction's slow path.
fn new_request_id() -> String {
    /// Odd (the golden ratio's 64-bit constant): multiplying by it is a bijection of `u64`.
    const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        loop {
            let prefix = uuid::Uuid::new_v4().as_u64_pair().0;
            if !redact::has_card_length_digit_run(format!("{prefix:016x}").as_bytes()) {
                return prefix;
            }
        }
    });
    loop {
        let count = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(SPREAD);
        let id = format!("{prefix:016x}{count:016x}");
        if !redact::has_card_length_digit_run(id.as_bytes()) {
            return id;
        }
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed.
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && hex(flags, 2);
    valid.then(|| trace.to_ascii_lowercase())
}

/// Reads propagation headers off an actix request.
struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::trace_id_of;

    #[test]
    fn request_ids_are_distinct_and_trace_id_shaped() {
        let (a, b) = (super::new_request_id(), super::new_request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn request_ids_are_never_masked_as_card_numbers() {
        for _ in 0..100_000 {
            let id = super::new_request_id();
            assert!(
                !crate::telemetry::redact::contains_card_number(&id),
                "{id} would be logged as [REDACTED]"
            );
        }
    }

    #[test]
    fn traceparent_trace_ids() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_of(tp).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad}");
        }
    }
}
