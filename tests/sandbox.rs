//! The sandbox as a black box over real HTTP, and the recorded upstream fixtures that pin both
//! the wire types and the sandbox.
//!
//! # Layout
//! - `support`: harness (spawn on port 0, request builder, shapes, card encryption).
//! - `fixtures`: fixtures ⇄ wire types, sandbox answers ⇄ fixture shapes.
//! - `flow`: captcha, reserve rules, polling, one update at a time, holds, delete, encoding.
//! - `payment`: certificate, payment, rotation, exactly-once purchase.
//! - `limits`: quota, OAuth, maintenance window, unredeemed orders.
//! - `faults`: injected upstream failures (status, latency, drop after commit, rate limit).
//! - `dialect`, `dialect_shapes`: every value of every dialect switch, and changing the dialect
//!   at run time.

#[path = "sandbox/dialect.rs"]
mod dialect;
#[path = "sandbox/dialect_shapes.rs"]
mod dialect_shapes;
#[path = "sandbox/faults.rs"]
mod faults;
#[path = "sandbox/fixtures.rs"]
mod fixtures;
#[path = "sandbox/flow.rs"]
mod flow;
#[path = "sandbox/limits.rs"]
mod limits;
#[path = "sandbox/payment.rs"]
mod payment;
#[path = "sandbox/support.rs"]
mod support;
