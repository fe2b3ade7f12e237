//! Payment sessions: single-use, short-lived links to the hosted payment page, each bound to
//! one reserved checkout (`POST /v1/checkouts/{id}/payment-session`). The page pays through
//! the very use case `PUT …/payment` runs ([`CheckoutService::pay`]), as the session's user.
//!
//! # Layout
//! - this file: making a session ([`CheckoutService::create_payment_session`]) and opening
//!   one for the page ([`CheckoutService::open_payment_session`]), and why one is over
//!   ([`SessionError`], [`EndReason`]).
//! - [`token`]: the token, its hash, and sealing it for a stored answer.
//! - [`return_url`]: the allow-list, a session's return URL, the outcomes sent back.
//!
//! A session is over once a payment is accepted for its checkout, by any path (the payment
//! ends every session of the checkout, `payment.rs`), once it expires, or once its checkout
//! can no longer be paid. It expires after `hosted_page.session_ttl_secs`, or when the hold
//! runs out if that comes first; the sweeper deletes it [`KEPT_AFTER_EXPIRY`] later.

pub mod return_url;
pub mod token;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use url::Url;

pub use return_url::{Outcome, ReturnUrl, ReturnUrlError, ReturnUrls};
pub use token::SessionToken;

use super::error::{CheckoutError, ErrorCode};
use super::model::{BillingPrefill, Checkout, PaymentSession, UserId};
use super::service::CheckoutService;
use super::state::CheckoutState;
use crate::ids::CheckoutId;
use crate::store::StoreError;

/// How long an expired session is kept before the sweeper deletes it: a link opened this late
/// still says "expired" (410) rather than "unknown" (404). An hour: long enough for a user who
/// left the page open, short enough not to keep the billing prefill (personal data) for long.
pub const KEPT_AFTER_EXPIRY: Duration = Duration::from_secs(3600);

/// The sessions' part of `[hosted_page]`.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `hosted_page.session_ttl_secs`.
    pub ttl: Duration,
    /// `hosted_page.return_urls`.
    pub return_urls: ReturnUrls,
}

/// A session to make, as the partner asked for it.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    /// Checked against the allow-list here.
    pub return_url: String,
    /// Already checked field by field (the payment's rules).
    pub billing: BillingPrefill,
}

/// A session just made: its token (for the link) and when it expires.
#[derive(Debug)]
pub struct CreatedSession {
    pub token: SessionToken,
    pub expires_at: DateTime<Utc>,
}

/// A session that can take a payment, with its checkout as it stands.
#[derive(Debug)]
pub struct OpenSession {
    pub session: PaymentSession,
    pub checkout: Checkout,
    pub return_url: ReturnUrl,
}

/// Why a session takes no payment.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No session has this token (never made, or deleted long after it expired).
    #[error("no such payment session")]
    Unknown,
    #[error("the payment session is over: {}", .0.reason.describe())]
    Ended(Ended),
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}

/// A session that is over, and the way back to the partner's app.
#[derive(Debug)]
pub struct Ended {
    pub reason: EndReason,
    /// The return URL with the checkout id and [`EndReason::outcome`].
    pub back: Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The link's time ran out.
    Expired,
    /// A payment was accepted for the checkout (through this session or another path).
    Used,
    /// The hold on the tickets ran out.
    HoldExpired,
    /// The checkout was released or failed.
    NotPayable,
}

impl EndReason {
    /// What the partner's app is told on the way back.
    pub fn outcome(self) -> Outcome {
        match self {
            Self::Expired | Self::HoldExpired => Outcome::Expired,
            Self::Used => Outcome::PaymentAccepted,
            Self::NotPayable => Outcome::Failed,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Expired => "it expired",
            Self::Used => "a payment was accepted",
            Self::HoldExpired => "the hold on the tickets ran out",
            Self::NotPayable => "the checkout can no longer be paid",
        }
    }
}

impl CheckoutService {
    /// A new session for `user`'s checkout `id`: someone else's (or no) checkout is
    /// `NotFound`; one not `reserved` is `InvalidState`; a return URL off the allow-list is a
    /// validation error naming `return_url`.
    pub async fn create_payment_session(
        &self,
        user: &UserId,
        id: CheckoutId,
        request: SessionRequest,
    ) -> Result<CreatedSession, CheckoutError> {
        let checkout = self.owned(user, id).await?;
        if checkout.state != CheckoutState::Reserved {
            return Err(CheckoutError::InvalidState {
                state: checkout.state,
                action: "open a payment session for",
            });
        }
        if self.hold_ran_out(&checkout) {
            return Err(CheckoutError::refused(
                ErrorCode::HoldExpired,
                "the hold on the tickets ran out",
            )
            .with_checkout(id));
        }
        let settings = &self.config.payment_sessions;
        let return_url = ReturnUrl::parse(&request.return_url, &settings.return_urls)
            .map_err(|e| CheckoutError::field("return_url", e.to_string()))?;
        let now = self.now();
        // The TTL is at most an hour (configuration checks it).
        let lifetime = TimeDelta::from_std(settings.ttl).unwrap_or(TimeDelta::hours(1));
        // A link that outlived the hold could only say so: it ends with the hold.
        let expires_at = checkout
            .hold_expires_at
            .map_or(now + lifetime, |hold| hold.min(now + lifetime));
        let token = SessionToken::generate();
        self.store
            .payment_sessions
            .insert(&PaymentSession {
                token_hash: token.hash(),
                checkout_id: id,
                user_id: user.clone(),
                return_url: return_url.as_url().clone(),
                billing: request.billing,
                created_at: now,
                expires_at,
                used_at: None,
            })
            .await?;
        Ok(CreatedSession { token, expires_at })
    }

    /// The session of `token`, if it can take a payment now: not used, not expired, and its
    /// checkout still payable.
    pub async fn open_payment_session(
        &self,
        token: &SessionToken,
    ) -> Result<OpenSession, SessionError> {
        let session = self
            .store
            .payment_sessions
            .get(&token.hash())
            .await?
            .ok_or(SessionError::Unknown)?;
        let return_url = ReturnUrl::stored(session.return_url.clone());
        let ended = |reason: EndReason| {
            SessionError::Ended(Ended {
                reason,
                back: return_url.with_outcome(session.checkout_id, reason.outcome()),
            })
        };
        if session.used_at.is_some() {
            return Err(ended(EndReason::Used));
        }
        if session.expires_at <= self.now() {
            return Err(ended(EndReason::Expired));
        }
        let checkout = self
            .store
            .checkouts
            .get_for_user(session.checkout_id, &session.user_id)
            .await?
            .ok_or(SessionError::Unknown)?;
        let reason = match checkout.state {
            // A payment may be running (this page's, sent again): the page waits for it.
            CheckoutState::Reserved | CheckoutState::Paying if !self.hold_ran_out(&checkout) => {
                None
            }
            CheckoutState::Reserved | CheckoutState::Paying | CheckoutState::Expired => {
                Some(EndReason::HoldExpired)
            }
            CheckoutState::PaymentAccepted
            | CheckoutState::Purchasing
            | CheckoutState::PurchaseUnknown
            | CheckoutState::PurchaseUnconfirmed
            | CheckoutState::Purchased => Some(EndReason::Used),
            CheckoutState::Reserving
            | CheckoutState::Releasing
            | CheckoutState::Released
            | CheckoutState::Failed => Some(EndReason::NotPayable),
        };
        if let Some(reason) = reason {
            return Err(ended(reason));
        }
        Ok(OpenSession {
            session,
            checkout,
            return_url,
        })
    }

    /// A payment was accepted for `checkout`: every session of it is over. A failure here is
    /// logged, not returned (the payment stands): a session left open cannot pay again anyway,
    /// since opening one judges the checkout's state too.
    pub(super) async fn end_payment_sessions(&self, checkout: CheckoutId) {
        if let Err(e) = self
            .store
            .payment_sessions
            .end_for_checkout(checkout, self.now())
            .await
        {
            tracing::warn!(checkout_id = %checkout, error = %e, "payment sessions not ended");
        }
    }
}
