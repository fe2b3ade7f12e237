//! Fault injection: a plan of upstream failures that tests and partners' QA can cause for real.
//!
//! A [`Fault`] targets an [`Operation`] (or `any`) and applies to the next `count` matching calls
//! (forever without a count). Faults are consumed by admitted calls only — a call the gate
//! refuses anyway (apikey, quota, token, `True-Client-IP`) neither triggers nor uses one — and at
//! most one fault applies to a call: the earliest added that matches.
//!
//! Kinds ([`FaultKind`]):
//! - `status`: 500 (the docs' "Internal error occurred" body) or 503 (empty body), without
//!   performing the operation.
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

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

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

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Operation {
    type Err = FaultError;

    fn from_str(s: &str) -> Result<Self, FaultError> {
        Self::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| FaultError::UnknownOperation(s.to_owned()))
    }
}

/// How a targeted call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer `status` (500 or 503) without performing the operation.
    Status { status: u16 },
    /// Perform the operation, then wait this long before answering.
    Latency { latency_ms: u64 },
    /// Perform the operation, then close the connection without an answer.
    DropAfterCommit,
    /// Answer the gateway's 429 quota fault, `Rate-Limit-Reset` `reset_ms` from now, without
    /// performing the operation.
    RateLimit { reset_ms: u64 },
}

pub const DEFAULT_STATUS: u16 = 500;
pub const DEFAULT_RESET_MS: u64 = 1000;
const KINDS: &str = "status, latency, drop_after_commit, rate_limit";

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Latency { .. } => "latency",
            Self::DropAfterCommit => "drop_after_commit",
            Self::RateLimit { .. } => "rate_limit",
        }
    }

    /// The `=value` of the textual form, if the kind has one.
    fn value(self) -> Option<u64> {
        match self {
            Self::Status { status } => Some(status.into()),
            Self::Latency { latency_ms } => Some(latency_ms),
            Self::DropAfterCommit => None,
            Self::RateLimit { reset_ms } => Some(reset_ms),
        }
    }

    fn from_parts(kind: &str, value: Option<u64>) -> Result<Self, FaultError> {
        let no_value = |k: Self| match value {
            Some(_) => Err(FaultError::UnexpectedValue(k.name())),
            None => Ok(k),
        };
        match kind {
            "status" => match value.unwrap_or(DEFAULT_STATUS.into()) {
                v @ (500 | 503) => Ok(Self::Status { status: v as u16 }),
                other => Err(FaultError::BadStatus(other)),
            },
            "latency" => value
                .map(|latency_ms| Self::Latency { latency_ms })
                .ok_or(FaultError::MissingValue("latency")),
            "drop_after_commit" => no_value(Self::DropAfterCommit),
            "rate_limit" => Ok(Self::RateLimit {
                reset_ms: value.unwrap_or(DEFAULT_RESET_MS),
            }),
            other => Err(FaultError::UnknownKind(other.to_owned())),
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

/// Why a fault spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error(
        "expected operation:kind[=value][:count], e.g. purchase:drop_after_commit:1; got {0:?}"
    )]
    Shape(String),
    #[error(
        "unknown operation {0:?} (one of: any, event, captcha, open_cart, reserve, certificate, payment, purchase, delete, poll, unredeemed, oauth)"
    )]
    UnknownOperation(String),
    #[error("unknown fault kind {0:?} (one of: {KINDS})")]
    UnknownKind(String),
    #[error("status must be 500 or 503, not {0}")]
    BadStatus(u64),
    #[error("{0} needs a value in milliseconds, e.g. reserve:latency=2000")]
    MissingValue(&'static str),
    #[error("{0} takes no value")]
    UnexpectedValue(&'static str),
    #[error("{what} must be a whole number, not {value:?}")]
    NotANumber { what: &'static str, value: String },
    #[error("{field} does not apply to kind {kind}")]
    ForeignField { field: &'static str, kind: String },
    #[error("count must be at least 1 (leave it out for every call)")]
    ZeroCount,
}

impl Fault {
    /// Parses `operation:kind[=value][:count]`: `purchase:drop_after_commit:1`,
    /// `any:status=503:3`, `reserve:latency=2000`, `poll:rate_limit=1500:2`.
    pub fn parse(spec: &str) -> Result<Self, FaultError> {
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let (op, kind, count) = match parts.as_slice() {
            [op, kind] => (*op, *kind, None),
            [op, kind, count] => (*op, *kind, Some(*count)),
            _ => return Err(FaultError::Shape(spec.to_owned())),
        };
        let number = |what: &'static str, v: &str| {
            v.trim().parse::<u64>().map_err(|_| FaultError::NotANumber {
                what,
                value: v.to_owned(),
            })
        };
        let (kind, value) = match kind.split_once('=') {
            Some((k, v)) => (k.trim(), Some(number("value", v)?)),
            None => (kind.trim(), None),
        };
        let count = match count {
            Some(c) => {
                let n = number("count", c)?;
                Some(u32::try_from(n).map_err(|_| FaultError::NotANumber {
                    what: "count",
                    value: c.to_owned(),
                })?)
            }
            None => None,
        };
        Self::checked(
            op.trim().parse()?,
            FaultKind::from_parts(kind, value)?,
            count,
        )
    }

    fn checked(
        operation: Operation,
        kind: FaultKind,
        count: Option<u32>,
    ) -> Result<Self, FaultError> {
        if count == Some(0) {
            return Err(FaultError::ZeroCount);
        }
        Ok(Self {
            operation,
            kind,
            count,
        })
    }
}

impl FromStr for Fault {
    type Err = FaultError;

    fn from_str(s: &str) -> Result<Self, FaultError> {
        Self::parse(s)
    }
}

/// The textual form, which [`Fault::parse`] reads back.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.operation, self.kind.name())?;
        if let Some(v) = self.kind.value() {
            write!(f, "={v}")?;
        }
        if let Some(n) = self.count {
            write!(f, ":{n}")?;
        }
        Ok(())
    }
}

/// The flat JSON form of a fault (admin endpoint). Fields that do not belong to the kind are
/// refused rather than ignored, so a typo does not silently inject something else.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultJson {
    operation: Operation,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reset_ms: Option<u64>,
}

impl TryFrom<FaultJson> for Fault {
    type Error = FaultError;

    fn try_from(j: FaultJson) -> Result<Self, FaultError> {
        let (own_field, value) = match j.kind.as_str() {
            "status" => (Some("status"), j.status.map(u64::from)),
            "latency" => (Some("latency_ms"), j.latency_ms),
            "rate_limit" => (Some("reset_ms"), j.reset_ms),
            "drop_after_commit" => (None, None),
            _ => return Err(FaultError::UnknownKind(j.kind)),
        };
        let given = [
            ("status", j.status.is_some()),
            ("latency_ms", j.latency_ms.is_some()),
            ("reset_ms", j.reset_ms.is_some()),
        ];
        if let Some((field, _)) = given
            .iter()
            .find(|(name, set)| *set && Some(*name) != own_field)
        {
            return Err(FaultError::ForeignField {
                field,
                kind: j.kind,
            });
        }
        Self::checked(j.operation, FaultKind::from_parts(&j.kind, value)?, j.count)
    }
}

impl From<Fault> for FaultJson {
    fn from(f: Fault) -> Self {
        let (status, latency_ms, reset_ms) = match f.kind {
            FaultKind::Status { status } => (Some(status), None, None),
            FaultKind::Latency { latency_ms } => (None, Some(latency_ms), None),
            FaultKind::DropAfterCommit => (None, None, None),
            FaultKind::RateLimit { reset_ms } => (None, None, Some(reset_ms)),
        };
        Self {
            operation: f.operation,
            kind: f.kind.name().to_owned(),
            count: f.count,
            status,
            latency_ms,
            reset_ms,
        }
    }
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

/// The answer of a `status` fault: the docs' 500 body, or an empty 503 as a load balancer in
/// front of an unavailable upstream sends it.
pub fn status_reply(status: u16) -> Reply {
    match status {
        503 => Reply::empty(503),
        other => reply::error(other, other.into(), "Internal error occurred"),
    }
}

/// A response that never reaches the client: its body fails before anything was written, and
/// actix-http then closes the connection without flushing the already-encoded head, so the
/// client sees the connection end before any response (hyper: "connection closed before message
/// completed"), not an HTTP error.
pub fn dropped_connection() -> HttpResponse {
    let abort = futures::stream::once(async {
        Err::<web::Bytes, _>(std::io::Error::other(
            "sandbox fault drop_after_commit: connection dropped on purpose",
        ))
    });
    HttpResponse::Ok().streaming(abort)
}
