//! Query texts and row conversions of [`PaymentSessionStore`](super::PaymentSessionStore),
//! shared by both backends (the same rules as [`super::sql`]: `$N` placeholders, syntax both
//! dialects accept).

use url::Url;

use super::sql::{parse_id, parse_user};
use super::{StoreError, StoreResult};
use crate::checkout::model::{BillingPrefill, PaymentSession, SessionTokenHash};
use crate::clock::{from_millis, to_millis};

/// The placeholders follow the field order of [`SessionRow`].
pub const INSERT_PAYMENT_SESSION: &str = "INSERT INTO payment_sessions (token_hash, \
     checkout_id, user_id, return_url, billing, created_at, expires_at, used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const GET_PAYMENT_SESSION: &str = "SELECT * FROM payment_sessions WHERE token_hash = $1";

/// `$1` checkout id, `$2` now.
pub const END_PAYMENT_SESSIONS: &str = "UPDATE payment_sessions SET used_at = $2 \
     WHERE checkout_id = $1 AND used_at IS NULL";

/// `$1` the cut-off: sessions that expired before it.
pub const PURGE_PAYMENT_SESSIONS: &str = "DELETE FROM payment_sessions WHERE expires_at < $1";

/// A `payment_sessions` row: read back as stored, and built from a session to be written.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: String,
    pub checkout_id: String,
    pub user_id: String,
    pub return_url: String,
    /// [`BillingPrefill`] as JSON.
    pub billing: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl SessionRow {
    pub fn from_session(s: &PaymentSession) -> StoreResult<Self> {
        Ok(Self {
            token_hash: s.token_hash.as_str().to_owned(),
            checkout_id: s.checkout_id.to_string(),
            user_id: s.user_id.as_str().to_owned(),
            return_url: s.return_url.to_string(),
            billing: serde_json::to_string(&s.billing)
                .map_err(|e| StoreError::Corrupt(format!("encoding billing: {e}")))?,
            created_at: to_millis(s.created_at),
            expires_at: to_millis(s.expires_at),
            used_at: s.used_at.map(to_millis),
        })
    }
}

impl TryFrom<SessionRow> for PaymentSession {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> StoreResult<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("payment session: bad {what}"));
        let billing: BillingPrefill =
            serde_json::from_str(&r.billing).map_err(|_| corrupt("billing"))?;
        Ok(PaymentSession {
            token_hash: SessionTokenHash::parse(&r.token_hash).ok_or_else(|| corrupt("hash"))?,
            checkout_id: parse_id(&r.checkout_id)?,
            user_id: parse_user(&r.user_id)?,
            return_url: Url::parse(&r.return_url).map_err(|_| corrupt("return_url"))?,
            billing,
            created_at: from_millis(r.created_at),
            expires_at: from_millis(r.expires_at),
            used_at: r.used_at.map(from_millis),
        })
    }
}
