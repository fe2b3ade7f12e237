//! A payment session as stored: the link a partner hands its user to pay on the hosted page
//! (`checkout::payment_session` creates and judges them). Vocabulary the store persists, so it
//! holds what is kept and nothing more: the SHA-256 of the token (never the token), the
//! checkout and its owner, the return URL, and billing to prefill (never card data).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::UserId;
use crate::ids::CheckoutId;

/// The SHA-256 of a session token, as 64 lower-case hex digits: what a session is stored and
/// found by. The token itself is a credential and is never kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionTokenHash(String);

impl SessionTokenHash {
    /// The hash of a token, from its digest bytes.
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        Self(hex::encode(digest))
    }

    /// A stored hash: 64 lower-case hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        hex.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One payment session.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentSession {
    pub token_hash: SessionTokenHash,
    pub checkout_id: CheckoutId,
    /// The checkout's owner: the requester of the payment made through the page.
    pub user_id: UserId,
    /// Where the page sends the user back, allow-listed when the session was made.
    pub return_url: Url,
    /// What the page's billing fields start with.
    pub billing: BillingPrefill,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When a payment was accepted for the checkout (through any session or `PUT …/payment`):
    /// the session is over.
    pub used_at: Option<DateTime<Utc>>,
}

/// Billing the partner already knows, to prefill the page: the payment's billing with every
/// field optional, each one checked by the payment's own rules when the session was made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingPrefill {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: AddressPrefill,
}

/// The address part of [`BillingPrefill`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPrefill {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}
