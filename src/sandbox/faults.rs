//! Fault injection: a plan of upstream failures that tests and partners' QA can cause for real.
//!
//! A [`Fault`] targets an [`Operation`] (or `any`) and applies to the next `count` matching calls
//! (forever without a count). Faults are consumed by admitted calls only — a call the gate
//! refuses anyway (apikey, quota, token, `True-Client-IP`) neither triggers nor uses one — and at
//! most one fault applies to a call: the earliest added that matches.
//!
//! Kinds ([`FaultKind`]):
//! - `status`: any status from 300 to 599 but 429 (`rate_limit` is that one), 500 without a
//!   value, without performing the operation. A 500 or 503 has the docs' JSON error body
//!   ("Internal error occurred", "Service is unavailable") or, under `server_errors=html`, the
//!   HTML page of a load balancer; any other status is one the docs do not define (a 409, a
//!   403, a redirect…) and comes with that HTML page, whatever `server_errors` says.
//! - `latency`: the operation happens, then the answer waits `latency_ms`. The wait comes after
//!   the operation, as with a slow upstream: a client that gives up early still changed state.
//! - `drop_after_commit`: the operation happens, then the connection is closed without any
//!   answer. For a call answered with 202 (polling), the operation completes but the 202 is never
//!   sent, so nobody can poll it and its cart is not left busy.
//! - `rate_limit`: the gateway's 429 quota fault with `Rate-Limit-Over: true` and
//!   `Rate-Limit-Reset` `reset_ms` from now, without performing the operation. Counted as a fault,
//!   not in `quota_429s` (which judges the client's own pacing).
//!
//! Textual form (CLI `--fault`): `operation:kind[=value][:count]`, e.g. `purchase:drop_after_commit:1`,
//! `any:status=503:3`, `reserve:latency=2000`, `poll:rate_limit=1500:2`. JSON form (admin
//! `/_sandbox/faults`): `{"operation", "kind", "count"?, "status"?, "latency_ms"?, "reset_ms"?}`.
//! Both are read and written in `fault_spec`.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::dialect::ServerErrors;
use super::fault_spec::FaultJson;
use super::reply::{self, Reply};

/// What a fault targets: one Partner-API operation, or `any` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Any,
    /// `GET /event/{id}`.
    Event,
    /// `GET /captcha`.
    Captcha,
    /// `POST /cart`.
    OpenCart,
    /// `PUT /cart/tickets`.
    Reserve,
    /// `GET /certificate`.
    Certificate,
    /// `PUT /cart/payment`.
    Payment,
    /// `PUT /cart`.
    Purchase,
    /// `DELETE /cart`.
    Delete,
    /// `GET /polling/...`.
    Poll,
    /// `GET /orders/unredeemed`.
    Unredeemed,
    /// `POST /oauth/accesstoken`.
    Oauth,
}

impl Operation {
    pub const ALL: [Self; 12] = [
        Self::Any,
        Self::Event,
        Self::Captcha,
        Self::OpenCart,
        Self::Reserve,
        Self::Certificate,
        Self::Payment,
        Self::Purchase,
        Self::Delete,
        Self::Poll,
        Self::Unredeemed,
        Self::Oauth,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Event => "event",
            Self::Captcha => "captcha",
            Self::OpenCart => "open_cart",
            Self::Reserve => "reserve",
            Self::Certificate => "certificate",
            Self::Payment => "payment",
            Self::Purchase => "purchase",
            Self::Delete => "delete",
            Self::Poll => "poll",
            Self::Unredeemed => "unredeemed",
            Self::Oauth => "oauth",
        }
    }

    /// Whether a fault targeting `self` applies to a call of operation `call`.
    fn covers(self, call: Operation) -> bool {
        self == Self::Any || self == call
    }
}

/// How a targeted call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer `status` (300–599, not 429) without performing the operation.
    Status { status: u16 },
    /// Perform the operation, then wait this long before answering.
    Latency { latency_ms: u64 },
    /// Perform the operation, then close the connection without an answer.
    DropAfterCommit,
    /// Answer the gateway's 429 quota fault, `Rate-Limit-Reset` `reset_ms` from now, without
    /// performing the operation.
    RateLimit { reset_ms: u64 },
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Latency { .. } => "latency",
            Self::DropAfterCommit => "drop_after_commit",
            Self::RateLimit { .. } => "rate_limit",
        }
    }
}

/// One planned fault. Build it directly, with [`Fault::parse`], or from its JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FaultJson", into = "FaultJson")]
pub struct Fault {
    pub operation: Operation,
    pub kind: FaultKind,
    /// How many more matching calls it applies to; `None`: every one.
    pub count: Option<u32>,
}

/// The active faults, in the order they were added, counts decremented as they are used.
#[derive(Debug, Default)]
pub struct FaultPlan {
    faults: Vec<Fault>,
}

impl FaultPlan {
    pub fn new(initial: &[Fault]) -> Self {
        let mut plan = Self::default();
        for fault in initial {
            plan.add(*fault);
        }
        plan
    }

    /// Appends a fault; one with `count: Some(0)` applies to nothing and is not kept.
    pub fn add(&mut self, fault: Fault) {
        if fault.count != Some(0) {
            self.faults.push(fault);
        }
    }

    /// Removes every fault; returns how many there were.
    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.faults).len()
    }

    pub fn active(&self) -> &[Fault] {
        &self.faults
    }

    /// The fault for a call of `op`, if any: the earliest that matches, used up by one.
    pub fn take(&mut self, op: Operation) -> Option<FaultKind> {
        let i = self.faults.iter().position(|f| f.operation.covers(op))?;
        let fault = &mut self.faults[i];
        let kind = fault.kind;
        match fault.count.as_mut() {
            Some(1) => {
                self.faults.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(kind)
    }
}

/// What an admitted call carries of its fault into [`super::gate::Call::respond`]: the faults that
/// let the operation happen and change only how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Delay(Duration),
    DropConnection,
}

/// The answer of a `status` fault: the docs' JSON error body, or the HTML page a load balancer
/// in front of a failing upstream sends.
pub fn status_reply(status: u16, body: ServerErrors) -> Reply {
    let message = match status {
        500 => Some("Internal error occurred"),
        503 => Some("Service is unavailable"),
        _ => None,
    };
    match (message, body) {
        (Some(message), ServerErrors::Json) => reply::error(status, status.into(), message),
        _ => {
            let reason = actix_web::http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            Reply {
                status,
                ..Reply::html(format!(
                    "<html><body><h1>{status} {reason}</h1></body></html>\n"
                ))
            }
        }
    }
}

/// A response that never reaches the client: its body fails before anything was written, and
/// actix-http then closes the connection without flushing the already-encoded head, so the
/// client sees the connection end before any response (hyper: "connection closed before message
/// completed"; curl: "Empty reply from server"), not an HTTP error. actix-http logs the body
/// error (`Response payload stream error: ... connection dropped on purpose`) at ERROR level.
pub fn dropped_connection() -> HttpResponse {
    let abort = futures::stream::once(async {
        Err::<web::Bytes, _>(std::io::Error::other(
            "sandbox fault drop_after_commit: connection dropped on purpose",
        ))
    });
    HttpResponse::Ok().streaming(abort)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(operation: Operation, status: u16, count: Option<u32>) -> Fault {
        Fault {
            operation,
            kind: FaultKind::Status { status },
            count,
        }
    }

    #[test]
    fn the_earliest_matching_fault_applies_and_is_used_up() {
        let mut plan = FaultPlan::new(&[
            fault(Operation::Purchase, 500, Some(2)),
            fault(Operation::Any, 503, Some(1)),
            fault(Operation::Poll, 500, Some(0)),
        ]);
        assert_eq!(plan.active().len(), 2, "a zero count applies to nothing");
        let status = |k: Option<FaultKind>| match k {
            Some(FaultKind::Status { status }) => Some(status),
            _ => None,
        };
        assert_eq!(status(plan.take(Operation::Purchase)), Some(500));
        assert_eq!(plan.active()[0].count, Some(1));
        assert_eq!(status(plan.take(Operation::Reserve)), Some(503));
        assert_eq!(plan.take(Operation::Reserve), None);
        assert_eq!(status(plan.take(Operation::Purchase)), Some(500));
        assert_eq!(plan.take(Operation::Purchase), None);
        assert!(plan.active().is_empty());
    }

    #[test]
    fn faults_without_a_count_stay_until_cleared() {
        let mut plan = FaultPlan::default();
        plan.add(fault(Operation::Event, 503, None));
        for _ in 0..3 {
            assert!(plan.take(Operation::Event).is_some());
        }
        assert_eq!(plan.clear(), 1);
        assert_eq!(plan.take(Operation::Event), None);
    }

    #[test]
    fn status_faults_answer_like_upstream() {
        for (status, message) in [
            (500, "Internal error occurred"),
            (503, "Service is unavailable"),
        ] {
            let json = status_reply(status, ServerErrors::Json);
            assert_eq!(json.status, status);
            assert_eq!(
                json.body,
                reply::Body::Json(serde_json::json!({"error": {"message": message,
                    "code": status, "http_code": status, "severity": "ERROR"}}))
            );
            let html = status_reply(status, ServerErrors::Html);
            assert_eq!(html.status, status);
            let reply::Body::Html(page) = html.body else {
                panic!("html expected")
            };
            assert!(page.contains(&format!("<h1>{status} ")), "{page}");
        }
        // A status the docs do not define comes bare, as from something in between.
        for status in [303, 403, 409] {
            let reply = status_reply(status, ServerErrors::Json);
            assert_eq!(reply.status, status);
            assert!(matches!(reply.body, reply::Body::Html(_)), "{status}");
        }
    }
}
