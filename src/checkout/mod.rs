//! The domain: the checkout state machine, the use cases that drive it, and their errors.
//!
//! # Layout
//! - [`state`]: states, events and the pure transition function.
//! - [`model`]: checkout, lines, totals, orders, the contract's error codes; [`lifecycle`]: what each change of a checkout
//!   writes with its state (operation, poll, failure), the only code that writes those.
//! - [`service`]: the use cases (create, get, pay, purchase, release, orders); `shared`: the
//!   machinery they, the driver and the resumer share (apply a transition, save, expire).
//! - [`reads`]: `GET /v1/checkouts/{id}`, answered from a per-replica cache kept true by this
//!   replica's writes and other replicas' change notifications.
//! - [`driver`]: the upstream conversation of one checkout, run under its lease.
//! - [`catalog`]: cached event details and reservation rules; [`events`]: reading them (and
//!   the captcha) within the caller's wait.
//! - [`billing`]: payment input newtypes (parse, don't validate); card fields are in [`crate::card`].
//! - [`payment`]: paying a checkout; [`payment_session`]: the links to the hosted payment page
//!   (tokens, return URLs), which pay through the same use case.
//! - [`maintenance`]: the venue's nightly maintenance window.
//! - [`error`]: the use cases' error type, and what upstream failures become for partners.
//! - [`reconcile`]: settling a purchase whose answer was lost, from proof only;
//!   [`notice`]: the webhook message announcing a purchase confirmed late.

pub mod billing;
pub mod catalog;
pub mod convert;
pub mod driver;
pub mod error;
pub mod events;
pub mod lease;
pub mod lifecycle;
pub mod maintenance;
pub mod model;
pub mod notice;
pub mod payment;
pub mod payment_session;
pub mod reads;
pub mod reconcile;
pub mod resume;
pub mod service;
mod shared;
pub mod state;
pub mod waiters;
