//! The webhook message of one unredeemed order (a Standard Webhooks style envelope): the
//! partner's user id and the order's public fields; nothing else about the purchase.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{Finding, JobRun};
use crate::checkout::model::{Order, UserId};

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: DateTime<Utc>,
    data: Payload<'a>,
}

#[derive(Debug, Serialize)]
struct Payload<'a> {
    user_id: &'a str,
    run_id: String,
    scheduled_at: DateTime<Utc>,
    query: &'a str,
    order_token: &'a str,
    event_id: &'a str,
    purchased_at: DateTime<Utc>,
    event_starts_at: DateTime<Utc>,
    email_status: &'static str,
    order: Option<OrderFields<'a>>,
}

#[derive(Debug, Serialize)]
struct OrderFields<'a> {
    order_id: String,
    redemption_url: &'a str,
    app_url: &'a str,
    grand_total: f64,
    currency: &'a str,
}

/// The message body for `finding`, sent to `user`.
pub(super) fn payload(
    finding: &Finding,
    user: &UserId,
    order: Option<&Order>,
    run: &JobRun,
    now: DateTime<Utc>,
) -> String {
    let envelope = Envelope {
        kind: "order.unredeemed",
        timestamp: now,
        data: Payload {
            user_id: user.as_str(),
            run_id: run.id.to_string(),
            scheduled_at: run.scheduled_at,
            query: &finding.query,
            order_token: &finding.order_token,
            event_id: &finding.event_id,
            purchased_at: finding.purchased_at,
            event_starts_at: finding.event_starts_at,
            email_status: match finding.email_status {
                1 => "sent",
                2 => "bounced",
                3 => "spam",
                _ => "unknown",
            },
            order: order.map(|o| OrderFields {
                order_id: o.id.to_string(),
                redemption_url: &o.redemption_url,
                app_url: &o.app_url,
                grand_total: o.grand_total.as_decimal(),
                currency: &o.currency,
            }),
        },
    };
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_string(&envelope).unwrap_or_default()
}
