//! Domain records: a checkout, its reserved lines and totals, its failure (with the contract's
//! error code, [`ErrorCode`]), the order it ends in, and the payment sessions of the hosted
//! page (`session`).
//! These are what the store persists and what `http` renders; no wire type leaks in here.

mod code;
mod session;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::code::{CodeDoc, ErrorCode, SeenAs};
pub use self::session::{AddressPrefill, BillingPrefill, PaymentSession, SessionTokenHash};
use super::state::CheckoutState;
use crate::ids::{CheckoutId, OrderId};

/// The partner's user id (the JWT `sub`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Non-empty, at most 255 bytes, no control characters.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Money in minor units (cents). Upstream sends decimal numbers; they are rounded once, here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    pub fn from_decimal(amount: f64) -> Self {
        Self((amount * 100.0).round() as i64)
    }

    pub fn as_decimal(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// `"69.00"`: the form upstream's payment `amount` takes.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// What the user asked to reserve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRequest {
    pub ticket_id: String,
    pub quantity: u32,
    pub price_level_id: Option<i64>,
}

/// What upstream reserved: one block of seats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketLine {
    pub ticket_id: String,
    pub quantity: u32,
    pub section: String,
    pub row: String,
    pub seats: Vec<String>,
    pub price: Cents,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub currency: String,
    pub face: Cents,
    pub fees: Cents,
    pub taxes: Cents,
    pub grand: Cents,
}

/// All that is ever kept of a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSummary {
    pub brand: String,
    pub last4: String,
}

/// Why a checkout failed or why its last operation was refused. Stored as the code's contract
/// text (see `store::sql`), so the column reads the same as before codes were typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutFailure {
    pub code: ErrorCode,
    pub message: String,
    /// Upstream's numeric code, when it gave one.
    pub upstream_code: Option<i64>,
}

impl CheckoutFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            upstream_code: None,
        }
    }

    pub fn with_upstream_code(self, upstream_code: Option<i64>) -> Self {
        Self {
            upstream_code,
            ..self
        }
    }
}

/// The upstream operation a checkout is in the middle of ("persist, then call").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Reserve,
    Payment,
    Purchase,
    Release,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Payment => "payment",
            Self::Purchase => "purchase",
            Self::Release => "release",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Reserve, Self::Payment, Self::Purchase, Self::Release]
            .into_iter()
            .find(|op| op.as_str() == s)
    }
}

/// Where an upstream operation stands: the newest polling URL and when it may be polled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPoll {
    pub url: String,
    pub not_before: DateTime<Utc>,
}

/// Who owns a checkout's upstream conversation, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Checkout {
    pub id: CheckoutId,
    pub user_id: UserId,
    pub event_id: String,
    pub state: CheckoutState,
    /// Upstream's cart id: never partner-facing.
    pub cart_id: Option<String>,
    pub requested: Vec<TicketRequest>,
    pub lines: Vec<TicketLine>,
    pub totals: Option<Totals>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub payment: Option<PaymentSummary>,
    pub order_id: Option<OrderId>,
    pub failure: Option<CheckoutFailure>,
    pub operation: Option<Operation>,
    pub poll: Option<PendingPoll>,
    /// The partner asked to release while an operation was running.
    pub release_requested: bool,
    /// The end user's address, sent as `True-Client-IP` also when a resumer continues.
    pub client_ip: String,
    pub lease: Option<Lease>,
    /// Optimistic-concurrency counter; every store update bumps it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the purchase was sent, saved before it went out: `None` in `purchasing` proves it
    /// was never sent (a worker that died before may send it). Orders listed upstream are
    /// matched against it, and it starts the clock to `purchase_unconfirmed`.
    pub purchase_started_at: Option<DateTime<Utc>>,
    /// A pending operation is not taken up before this (the next lookup of an unconfirmed
    /// purchase).
    pub next_check_at: Option<DateTime<Utc>>,
}

/// An order recorded after a purchase.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: OrderId,
    pub checkout_id: CheckoutId,
    pub user_id: UserId,
    pub event_id: String,
    pub order_token: String,
    pub redemption_url: String,
    pub app_url: String,
    pub grand_total: Cents,
    pub currency: String,
    pub source_account_id: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_round_and_format() {
        assert_eq!(Cents::from_decimal(57.39), Cents(5739));
        assert_eq!(Cents::from_decimal(0.1 + 0.2), Cents(30));
        assert_eq!(Cents(6900).to_decimal_string(), "69.00");
        assert_eq!(Cents(5).to_decimal_string(), "0.05");
    }

    #[test]
    fn user_ids_are_checked() {
        assert!(UserId::parse("user-1").is_some());
        assert!(UserId::parse("").is_none());
        assert!(UserId::parse("a\nb").is_none());
    }
}
