//! Partner-facing JSON shapes (CONTRACT.md "Checkout resource", orders) and the request
//! bodies, separate from the domain types they are converted from and into. Each derives its
//! schema in the OpenAPI document; [`event`] holds the event's shapes, [`session`] the
//! payment session's.

pub mod event;
pub mod session;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::checkout::model::{Cents, Checkout, Order, TicketLine, Totals};
use crate::checkout::state::CheckoutState;

/// The checkout resource.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Checkout)]
pub struct CheckoutBody {
    #[schema(example = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12")]
    pub id: String,
    #[schema(schema_with = state_schema)]
    pub state: &'static str,
    pub event_id: String,
    /// The seats held, once reserved.
    pub tickets: Vec<TicketBody>,
    /// Known once reserved.
    pub totals: Option<TotalsBody>,
    /// When upstream releases the seats unless the checkout is purchased.
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// The card accepted for this checkout (never its number or CVV).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentBody>,
    /// Set once `purchased`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderBody>,
    /// Why the checkout failed or its last payment was refused; in `purchase_unconfirmed`,
    /// the code `purchase_unconfirmed` and what is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `Checkout.state`: every state a partner can see (built from the domain's states).
fn state_schema() -> ObjectBuilder {
    let states: Vec<&str> = CheckoutState::ALL
        .into_iter()
        .filter(|s| s.public() == *s)
        .map(CheckoutState::as_str)
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "`reserving → reserved → paying → payment_accepted → purchasing → purchased`; any \
             pending state may end in `failed`; `reserved`/`payment_accepted` → `releasing → \
             released` (DELETE, abandonment) or `expired` (the hold ran out). \
             `purchasing → purchase_unconfirmed` when the purchase's answer was lost and no \
             order was found upstream in time: the outcome is not confirmed either way (the \
             user may have been charged); never send the purchase again. It becomes \
             `purchased` when the order is found, announced by the webhook \
             `checkout.purchase_confirmed`. Pending states (`reserving`, `paying`, \
             `purchasing`, `releasing`) and `purchase_unconfirmed` are answered with 202.",
        ))
        .enum_values(Some(states))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CheckoutTicket)]
pub struct TicketBody {
    pub ticket_id: String,
    pub quantity: u32,
    pub section: String,
    pub row: String,
    pub seats: Vec<String>,
    /// Per ticket, in the checkout's currency.
    pub price: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Totals)]
pub struct TotalsBody {
    #[schema(example = "USD")]
    pub currency: String,
    pub face: f64,
    pub fees: f64,
    pub taxes: f64,
    /// What the card is charged.
    pub grand: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Payment)]
pub struct PaymentBody {
    #[schema(example = "visa")]
    pub brand: String,
    #[schema(example = "0011")]
    pub last4: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CheckoutFailure)]
pub struct ErrorSummary {
    /// A problem `code` (see `Problem`), or `purchase_unconfirmed`.
    #[schema(example = "payment_declined")]
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderBody {
    #[schema(example = "ord_0190b8f3a1b27c4d8e9f0a1b2c3d4e5f")]
    pub order_id: String,
    pub checkout_id: String,
    pub event_id: String,
    /// Upstream's order token (identifies the order to Ticketmaster).
    pub order_token: String,
    /// Where the user redeems the tickets.
    pub redemption_url: String,
    /// Opens the order in the Ticketmaster app.
    pub app_url: String,
    pub grand_total: f64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// One page of the user's orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderList)]
pub struct OrderList {
    pub orders: Vec<OrderBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: &'static str,
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
                code: f.code.as_str().to_owned(),
                message: f.message.clone(),
            }),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

// ---------------------------------------------------------------- requests

/// `POST /v1/checkouts`. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateCheckout)]
pub struct CreateCheckoutRequest {
    #[schema(example = "3F004CBB88958BF9")]
    pub event_id: String,
    /// From solving `GET /v1/captcha`; one per checkout. Missing, stale or reused answers
    /// `captcha_invalid`.
    #[serde(default)]
    #[schema(required = true, min_length = 1, pattern = r"\S")]
    pub captcha_token: Option<String>,
    #[schema(min_items = 1)]
    pub tickets: Vec<TicketRequestBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TicketRequest)]
pub struct TicketRequestBody {
    #[schema(example = "000002040006")]
    pub ticket_id: String,
    /// Must fit the ticket type's `quantity_rules`.
    #[schema(minimum = 1, example = 2)]
    pub quantity: i64,
    /// A price level of the ticket type; any when absent.
    #[serde(default)]
    pub price_level_id: Option<i64>,
}

/// `PUT /v1/checkouts/{id}/payment`. Card fields arrive as strings and go straight into
/// secret types (see `card.rs`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = PaymentRequest,
    description = "`PUT /v1/checkouts/{id}/payment`; the amount is the checkout's own total. \
                   Unknown fields are refused."
)]
pub struct PaymentRequestBody {
    pub card: CardBody,
    pub billing: BillingBody,
}

/// Number and CVV are encrypted for upstream and never stored, logged or returned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Card)]
pub struct CardBody {
    #[schema(value_type = String, example = "4588883206000011")]
    pub number: crate::card::CardNumber,
    #[schema(value_type = String, example = "123")]
    pub cvv: crate::card::Cvv,
    #[schema(minimum = 1, maximum = 12, example = 12)]
    pub expire_month: i64,
    /// Four digits.
    #[schema(example = 2028)]
    pub expire_year: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Billing)]
pub struct BillingBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub first_name: String,
    #[schema(min_length = 1, pattern = r"\S")]
    pub last_name: String,
    #[schema(format = Email)]
    pub email: String,
    #[schema(example = "212-867-5309")]
    pub phone: String,
    pub address: AddressBody,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Address)]
pub struct AddressBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[schema(min_length = 1, pattern = r"\S")]
    pub city: String,
    /// The state or province abbreviation.
    #[schema(example = "CA")]
    pub region: String,
    #[schema(min_length = 1, pattern = r"\S")]
    pub postal_code: String,
    /// ISO 3166 alpha-2.
    #[schema(example = "US")]
    pub country: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    /// `next_cursor` of the previous page.
    #[serde(default)]
    #[param(pattern = r"^[0-9]{1,15}\.ord_[0-9a-f]{32}$")]
    pub cursor: Option<String>,
    /// Orders per page, 1–100 (default 20).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}
