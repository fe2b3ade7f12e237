//! The Partner-API client: wire types, OAuth, the quota limiter, polling replies and typed
//! errors. It knows nothing of checkouts.
//!
//! # Layout
//! - [`wire`]: request and response bodies exactly as the docs show them.
//! - [`client`]: [`PartnerApi`], one method per documented call; `transport`: how a call
//!   is sent (limiter, token, retries, 429s, quota headers).
//! - [`reply`]: answers read into [`Reply`] or a typed error; [`follow`]: an operation's polls
//!   followed to its final answer within one call, for those whose polling URL is not persisted.
//! - [`auth`]: the OAuth bearer-token cache; [`backoff`]: retry spacing.
//! - [`quota`]: the limiter every request passes through, with priority lanes.
//! - [`error`]: [`UpstreamError`] and what each failure means ([`FailureKind`]).

pub mod auth;
pub mod backoff;
pub mod client;
pub mod de;
pub mod error;
pub mod follow;
pub mod quota;
pub mod reply;
mod transport;
pub mod wire;
#[cfg(test)]
mod wire_tolerance;

pub use client::{
    CallContext, CaptchaPage, Deleted, PartnerApi, PollTicket, Reply, UnredeemedQuery,
    UpstreamSettings,
};
pub use error::{FailureKind, UpstreamError};
pub use follow::FollowError;
pub use quota::{
    Budget, Claim, Priority, QueueFull, QuotaLimiter, SharedAnswer, SharedQuota, Shares,
};
