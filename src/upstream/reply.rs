//! Reading upstream's answers: a final body or "poll this URL after `wait`" ([`Reply`]), or
//! the most specific typed error for an error body, a fault body or a bare status.
//!
//! An error body is recognised before the expected type is decoded, whatever the status: the
//! docs' Poll section delivers "the originally requested response" with 202, and that may be
//! a refusal (`{"error": …}` with its own `http_code`). A body that is neither an error nor
//! the expected type is [`UpstreamError::Decode`] with a reason that names the field path and
//! the kind of problem, never a value from the body (see `docs/upstream-assumptions.md`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{FaultCode, UpstreamError};
use super::wire;

/// Where an operation stands after one exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    Done(T),
    Poll(PollTicket),
}

/// "Ask `url` again, not before `wait` has passed."
#[derive(Debug, Clone, PartialEq)]
pub struct PollTicket {
    pub url: String,
    pub wait: Duration,
}

/// One request and its answer, read whole.
pub(super) struct Exchange {
    /// The call's low-cardinality name (`reserve`, `poll`, …), for logs and metrics.
    pub(super) operation: &'static str,
    pub(super) status: StatusCode,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Exchange {
    /// `Rate-Limit-Reset` is epoch milliseconds; `Ratelimit-Quota-Reset` is taken as the same
    /// when the first is absent.
    pub(super) fn reset_at(&self) -> Option<DateTime<Utc>> {
        header_i64(&self.headers, "rate-limit-reset")
            .or_else(|| header_i64(&self.headers, "ratelimit-quota-reset"))
            .and_then(DateTime::from_timestamp_millis)
    }
}

pub(super) fn header_i64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<i64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

pub(super) fn classify_fault(ex: &Exchange) -> Option<FaultCode> {
    serde_json::from_slice::<wire::FaultBody>(&ex.body)
        .ok()
        .map(|f| FaultCode::parse(&f.fault.detail.errorcode))
}

pub(super) fn transport_error(e: reqwest::Error) -> UpstreamError {
    UpstreamError::Transport {
        // A refused connection never carried the request; anything later might have.
        maybe_sent: !e.is_connect(),
        reason: e.without_url().to_string(),
    }
}

/// Turn an error status and body into the most specific typed error.
pub(super) fn error_from(status: StatusCode, body: &[u8]) -> UpstreamError {
    if let Ok(e) = serde_json::from_slice::<wire::ErrorBody>(body) {
        return UpstreamError::Api {
            status: status.as_u16(),
            code: e.error.code,
            message: e.error.message,
        };
    }
    if let Ok(f) = serde_json::from_slice::<wire::FaultBody>(body) {
        let code = FaultCode::parse(&f.fault.detail.errorcode);
        return match code {
            FaultCode::QuotaViolation => UpstreamError::RateLimited { reset_at: None },
            code => UpstreamError::Fault {
                status: status.as_u16(),
                code,
            },
        };
    }
    UpstreamError::Status {
        status: status.as_u16(),
    }
}

/// Upstream's refusal carried by a success status (a final poll answer, or a call that
/// answers its errors with 200), if the body is one.
pub(super) fn refusal_in_success(body: &[u8]) -> Option<UpstreamError> {
    if let Ok(e) = serde_json::from_slice::<wire::ErrorBody>(body) {
        // The error's own `http_code` is the status it would have had. Without one, a code the
        // docs document is a refusal (their one example without `http_code`, 20052, is a 4xx
        // refusal); an undocumented code may be one of the "internal, unrecoverable errors"
        // the docs say upstream is notified of, and proves nothing: read as a 500.
        let status = e
            .error
            .http_code
            .filter(|s| (400..600).contains(s))
            .unwrap_or(if wire::codes::DOCUMENTED.contains(&e.error.code) {
                400
            } else {
                500
            });
        return Some(UpstreamError::Api {
            status,
            code: e.error.code,
            message: e.error.message,
        });
    }
    serde_json::from_slice::<wire::FaultBody>(body)
        .is_ok()
        .then(|| error_from(StatusCode::BAD_REQUEST, body))
}

/// The expected type, or a [`UpstreamError::Decode`] whose reason is safe to log: the field
/// path and the kind of problem (serde's own message can quote the body's values).
pub(super) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, UpstreamError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let e = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let path = e.path().to_string();
    let inner = e.inner();
    let what = match inner.classify() {
        serde_json::error::Category::Data if inner.to_string().starts_with("missing field") => {
            "a required field is missing"
        }
        serde_json::error::Category::Data => "a field has the wrong type or value",
        serde_json::error::Category::Syntax => "the body is not JSON",
        serde_json::error::Category::Eof => "the body ends too soon",
        serde_json::error::Category::Io => "the body could not be read",
    };
    let path = if path == "." {
        "the body".to_owned()
    } else {
        format!("`{path}`")
    };
    let missing = inner
        .to_string()
        .strip_prefix("missing field ")
        .and_then(|rest| rest.split_whitespace().next().map(str::to_owned));
    Err(UpstreamError::Decode {
        reason: match missing {
            Some(field) => format!("{what} ({field} in {path})"),
            None => format!(
                "{what} at {path} (line {}, column {})",
                inner.line(),
                inner.column()
            ),
        },
    })
}

/// A call the docs mark "Polling: No": a 2xx body is the answer.
pub(super) fn decode_done<T: DeserializeOwned>(ex: Exchange) -> Result<T, UpstreamError> {
    if !ex.status.is_success() {
        return Err(error_from(ex.status, &ex.body));
    }
    if let Some(refusal) = refusal_in_success(&ex.body) {
        return Err(refusal);
    }
    decode(&ex.body)
}

/// A call marked "Polling: Yes", or a poll. Completion is recognised by the body, not the
/// status: a final answer may come with 200, 202 or 204 (the docs' Poll section).
pub(super) fn decode_reply<T: DeserializeOwned>(ex: Exchange) -> Result<Reply<T>, UpstreamError> {
    if !ex.status.is_success() {
        return Err(error_from(ex.status, &ex.body));
    }
    let body: &[u8] = if ex.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &ex.body
    };
    if let Some(refusal) = refusal_in_success(body) {
        return Err(refusal);
    }
    if let Ok(poll) = serde_json::from_slice::<wire::PollingResponse>(body) {
        return Ok(Reply::Poll(PollTicket {
            url: poll.polling_url,
            wait: clamp_wait(poll.wait),
        }));
    }
    decode(body).map(Reply::Done)
}

/// The longest `wait` believed: the docs say "generally 4 seconds"; a minute covers any
/// queue, and an absurd value from upstream never parks a checkout for days.
pub const LONGEST_WAIT: Duration = Duration::from_secs(60);

fn clamp_wait(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0))
        .unwrap_or(LONGEST_WAIT)
        .min(LONGEST_WAIT)
}

/// An answer read as the transport reads a "Polling: Yes" call's, from its status and body
/// alone: for code outside `upstream` that replays recorded or generated answers (the
/// `upstream_wire` fuzz target, fixture tests).
pub fn read_polled<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
) -> Result<Reply<T>, UpstreamError> {
    decode_reply(Exchange::replayed(status, body)?)
}

/// As [`read_polled`], for a "Polling: No" call.
pub fn read_final<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, UpstreamError> {
    decode_done(Exchange::replayed(status, body)?)
}

impl Exchange {
    fn replayed(status: u16, body: &[u8]) -> Result<Self, UpstreamError> {
        Ok(Exchange {
            operation: "replayed",
            status: StatusCode::from_u16(status).map_err(|_| UpstreamError::Status { status })?,
            headers: Default::default(),
            body: body.to_vec(),
        })
    }
}

/// The captcha provider's site key in the captcha page, if it names one.
pub fn extract_site_key(html: &str) -> Option<String> {
    let start = html.find("data-sitekey=\"")? + "data-sitekey=\"".len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Deleted;

    fn ex(status: u16, body: &str) -> Exchange {
        Exchange {
            operation: "test",
            status: StatusCode::from_u16(status).unwrap(),
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_polling_body_is_a_poll_whatever_the_status() {
        for status in [200, 202] {
            let reply: Reply<wire::PurchaseResponse> = decode_reply(ex(
                status,
                r#"{"polling_url":"https://x/partners/v1/polling/1","wait":4}"#,
            ))
            .unwrap();
            assert_eq!(
                reply,
                Reply::Poll(PollTicket {
                    url: "https://x/partners/v1/polling/1".into(),
                    wait: Duration::from_secs(4)
                })
            );
        }
    }

    #[test]
    fn decimal_waits_are_accepted() {
        let reply: Reply<Deleted> =
            decode_reply(ex(202, r#"{"polling_url":"https://x/p","wait":0.5}"#)).unwrap();
        assert!(matches!(reply, Reply::Poll(t) if t.wait == Duration::from_millis(500)));
    }

    #[test]
    fn an_empty_204_completes_a_delete() {
        let reply: Reply<Deleted> = decode_reply(ex(204, "")).unwrap();
        assert!(matches!(reply, Reply::Done(_)));
        let reply: Reply<Deleted> = decode_reply(ex(202, "{}")).unwrap();
        assert!(matches!(reply, Reply::Done(_)));
    }

    #[test]
    fn error_bodies_become_typed_errors() {
        let e = error_from(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"message":"Payment Not Accepted","code":20122,"http_code":400,"severity":"ERROR"}}"#,
        );
        assert!(matches!(
            e,
            UpstreamError::Api {
                code: 20122,
                status: 400,
                ..
            }
        ));
        let f = error_from(
            StatusCode::UNAUTHORIZED,
            br#"{"fault":{"faultstring":"Invalid ApiKey","detail":{"errorcode":"oauth.v2.InvalidApiKey"}}}"#,
        );
        assert!(matches!(
            f,
            UpstreamError::Fault {
                code: FaultCode::InvalidApiKey,
                ..
            }
        ));
        assert!(matches!(
            error_from(StatusCode::SERVICE_UNAVAILABLE, b"<html>"),
            UpstreamError::Status { status: 503 }
        ));
    }

    #[test]
    fn an_error_inside_a_success_status_is_the_error() {
        let sold_out =
            r#"{"error":{"message":"No inventory found to match request","code":20052}}"#;
        let e = decode_reply::<wire::CartResponse>(ex(202, sold_out)).unwrap_err();
        assert!(
            matches!(
                e,
                UpstreamError::Api {
                    code: 20052,
                    status: 400,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.kind(), crate::upstream::FailureKind::SoldOut);
        let declined =
            r#"{"error":{"message":"Payment Not Accepted","code":20122,"http_code":400}}"#;
        let e = decode_done::<wire::CartResponse>(ex(200, declined)).unwrap_err();
        assert_eq!(e.kind(), crate::upstream::FailureKind::PaymentDeclined);
        let failed = r#"{"error":{"message":"Internal error","code":1,"http_code":500}}"#;
        let e = decode_reply::<wire::PurchaseResponse>(ex(202, failed)).unwrap_err();
        assert!(
            e.outcome_unknown(),
            "a 5xx error inside a 202 leaves the outcome unknown"
        );
        let quota = r#"{"fault":{"faultstring":"Rate limit quota violation","detail":{"errorcode":"policies.ratelimit.QuotaViolation"}}}"#;
        let e = decode_reply::<wire::PurchaseResponse>(ex(200, quota)).unwrap_err();
        assert_eq!(e.kind(), crate::upstream::FailureKind::RateLimited);
    }

    #[test]
    fn an_undocumented_code_without_a_status_proves_nothing() {
        // The docs' own example without `http_code` (20052) is a refusal; a code they do not
        // document, with no status of its own, may be an internal error: an unknown outcome.
        let strange = r#"{"error":{"message":"Something went wrong","code":55555}}"#;
        let e = decode_reply::<wire::PurchaseResponse>(ex(202, strange)).unwrap_err();
        assert!(matches!(e, UpstreamError::Api { status: 500, .. }), "{e:?}");
        assert!(e.outcome_unknown(), "{e:?}");
        let e = decode_done::<wire::PurchaseResponse>(ex(200, strange)).unwrap_err();
        assert!(e.outcome_unknown(), "{e:?}");
        let with_status = r#"{"error":{"message":"Nope","code":55555,"http_code":403}}"#;
        let e = decode_done::<wire::PurchaseResponse>(ex(200, with_status)).unwrap_err();
        assert!(matches!(e, UpstreamError::Api { status: 403, .. }), "{e:?}");
    }

    #[test]
    fn an_unreadable_answer_names_the_field_never_the_value() {
        let e = decode_done::<wire::PurchaseResponse>(ex(
            200,
            r#"{"order_token": {"card": "4588883206000011"}}"#,
        ))
        .unwrap_err();
        let UpstreamError::Decode { reason } = &e else {
            panic!("{e:?}")
        };
        assert!(reason.contains("order_token"), "{reason}");
        assert!(!reason.contains("4588"), "{reason}");
        let e = decode_done::<wire::PurchaseResponse>(ex(200, r#"{"redemption_url": "x"}"#))
            .unwrap_err();
        assert!(e.to_string().contains("could not read"), "{e}");
        let UpstreamError::Decode { reason } = &e else {
            panic!("{e:?}")
        };
        assert!(reason.contains("order_token"), "{reason}");
    }

    #[test]
    fn waits_are_clamped() {
        let reply: Reply<Deleted> =
            decode_reply(ex(202, r#"{"polling_url":"https://x/p","wait":1e12}"#)).unwrap();
        assert!(matches!(reply, Reply::Poll(t) if t.wait == LONGEST_WAIT));
        let reply: Reply<Deleted> =
            decode_reply(ex(202, r#"{"polling_url":"https://x/p","wait":"4"}"#)).unwrap();
        assert!(matches!(reply, Reply::Poll(t) if t.wait == Duration::from_secs(4)));
    }

    #[test]
    fn site_key_is_read_from_the_page() {
        let html = r#"<div class="g-recaptcha" data-sitekey="c0d60e1f" data-callback="cb"></div>"#;
        assert_eq!(extract_site_key(html).as_deref(), Some("c0d60e1f"));
    }
}
