//! The two written forms of a [`Fault`]: the textual spec of the CLI's `--fault`
//! (`operation:kind[=value][:count]`, which `Display` prints back) and the flat JSON of
//! `/_sandbox/faults`. Both go through one validation, so they accept the same faults. Defaults:
//! a `status` without a value is 500, a `rate_limit` resets in 1000 ms, no count means every
//! matching call; `latency` needs its value and `drop_after_commit` takes none.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::faults::{Fault, FaultKind, Operation};

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

const DEFAULT_STATUS: u16 = 500;
const DEFAULT_RESET_MS: u64 = 1000;
const KINDS: &str = "status, latency, drop_after_commit, rate_limit";

impl FaultKind {
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
                v @ (300..=428 | 430..=599) => Ok(Self::Status {
                    status: u16::try_from(v).map_err(|_| FaultError::BadStatus(v))?,
                }),
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
    #[error("status must be from 300 to 599, and not 429 (that is rate_limit), not {0}")]
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
pub(super) struct FaultJson {
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
