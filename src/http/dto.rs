//! Partner-facing JSON shapes (CONTRACT.md "Checkout resource", orders) and the request
//! bodies, separate from the domain types they are converted from and into.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checkout::model::{Cents, Checkout, Order, TicketLine, Totals};

#[derive(Debug, Serialize)]
pub struct CheckoutBody {
    pub id: String,
    pub state: &'static str,
    pub event_id: String,
    pub tickets: Vec<TicketBody>,
    pub totals: Option<TotalsBody>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct TicketBody {
    pub ticket_id: String,
    pub quantity: u32,
    pub section: String,
    pub row: String,
    pub seats: Vec<String>,
    pub price: f64,
}

#[derive(Debug, Serialize)]
pub struct TotalsBody {
    pub currency: String,
    pub face: f64,
    pub fees: f64,
    pub taxes: f64,
    pub grand: f64,
}

#[derive(Debug, Serialize)]
pub struct PaymentBody {
    pub brand: String,
    pub last4: String,
}

#[derive(Debug, Serialize)]
pub struct ErrorSummary {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct OrderBody {
    pub order_id: String,
    pub checkout_id: String,
    pub event_id: String,
    pub order_token: String,
    pub redemption_url: String,
    pub app_url: String,
    pub grand_total: f64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct OrderList {
    pub orders: Vec<OrderBody>,
    pub next_cursor: Option<String>,
}

fn money(c: Cents) -> f64 {
    c.as_decimal()
}

impl From<&TicketLine> for TicketBody {
    fn from(l: &TicketLine) -> Self {
        Self {
            ticket_id: l.ticket_id.clone(),
            quantity: l.quantity,
            section: l.section.clone(),
            row: l.row.clone(),
            seats: l.seats.clone(),
            price: money(l.price),
        }
    }
}

impl From<&Totals> for TotalsBody {
    fn from(t: &Totals) -> Self {
        Self {
            currency: t.currency.clone(),
            face: money(t.face),
            fees: money(t.fees),
            taxes: money(t.taxes),
            grand: money(t.grand),
        }
    }
}

impl From<&Order> for OrderBody {
    fn from(o: &Order) -> Self {
        Self {
            order_id: o.id.to_string(),
            checkout_id: o.checkout_id.to_string(),
            event_id: o.event_id.clone(),
            order_token: o.order_token.clone(),
            redemption_url: o.redemption_url.clone(),
            app_url: o.app_url.clone(),
            grand_total: money(o.grand_total),
            currency: o.currency.clone(),
            created_at: o.created_at,
        }
    }
}

impl CheckoutBody {
    pub fn new(c: &Checkout, order: Option<&Order>) -> Self {
        Self {
            id: c.id.to_string(),
            state: c.state.public().as_str(),
            event_id: c.event_id.clone(),
            tickets: c.lines.iter().map(TicketBody::from).collect(),
            totals: c.totals.as_ref().map(TotalsBody::from),
            hold_expires_at: c.hold_expires_at,
            payment: c.payment.as_ref().map(|p| PaymentBody {
                brand: p.brand.clone(),
                last4: p.last4.clone(),
            }),
            order: order.map(OrderBody::from),
            error: c.failure.as_ref().map(|f| ErrorSummary {
                code: f.code.clone(),
                message: f.message.clone(),
            }),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

// ---------------------------------------------------------------- requests

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCheckoutRequest {
    pub event_id: String,
    #[serde(default)]
    pub captcha_token: Option<String>,
    pub tickets: Vec<TicketRequestBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketRequestBody {
    pub ticket_id: String,
    pub quantity: i64,
    #[serde(default)]
    pub price_level_id: Option<i64>,
}

/// Card fields arrive as strings and go straight into secret types (see `card.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequestBody {
    pub card: CardBody,
    pub billing: BillingBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    pub number: crate::checkout::card::CardNumber,
    pub cvv: crate::checkout::card::Cvv,
    pub expire_month: i64,
    pub expire_year: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingBody {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub address: AddressBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Deserialize)]
pub struct OrdersQuery {
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}
