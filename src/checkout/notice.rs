//! The webhook message that tells the partner a purchase it was told is unconfirmed has been
//! found and is `purchased` (`checkout.purchase_confirmed`). It goes out through the same
//! signed, retried delivery as the unredeemed-orders job's messages, queued in the same
//! transaction as the purchase it announces.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{Checkout, Order};
use super::service::CheckoutService;
use crate::ids::DeliveryId;
use crate::jobs::model::{Delivery, DeliveryStatus};

/// `type` of the message.
pub const PURCHASE_CONFIRMED: &str = "checkout.purchase_confirmed";

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: DateTime<Utc>,
    data: Data<'a>,
}

#[derive(Debug, Serialize)]
struct Data<'a> {
    user_id: &'a str,
    checkout_id: String,
    event_id: &'a str,
    state: &'static str,
    order: OrderFields<'a>,
}

#[derive(Debug, Serialize)]
struct OrderFields<'a> {
    order_id: String,
    order_token: &'a str,
    redemption_url: &'a str,
    app_url: &'a str,
    grand_total: f64,
    currency: &'a str,
}

/// The message for `checkout`'s late-confirmed `order`; `None` when no webhook is configured.
pub fn purchase_confirmed(
    service: &CheckoutService,
    checkout: &Checkout,
    order: &Order,
) -> Option<Delivery> {
    let retry_for = service.config.notices?;
    let now = service.now();
    let envelope = Envelope {
        kind: PURCHASE_CONFIRMED,
        timestamp: now,
        data: Data {
            user_id: checkout.user_id.as_str(),
            checkout_id: checkout.id.to_string(),
            event_id: &checkout.event_id,
            state: checkout.state.public().as_str(),
            order: OrderFields {
                order_id: order.id.to_string(),
                order_token: &order.order_token,
                redemption_url: &order.redemption_url,
                app_url: &order.app_url,
                grand_total: order.grand_total.as_decimal(),
                currency: &order.currency,
            },
        },
    };
    Some(Delivery {
        id: DeliveryId::new(),
        run_id: None,
        order_token: order.order_token.clone(),
        // Plain data with string keys: serialising cannot fail.
        payload: serde_json::to_string(&envelope).unwrap_or_default(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        dead_after: now + chrono::TimeDelta::from_std(retry_for).unwrap_or(chrono::TimeDelta::MAX),
        lease: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        delivered_at: None,
    })
}
