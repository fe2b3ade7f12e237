//! The domain: the checkout state machine, the use cases that drive it, and their errors.
//!
//! # Layout
//! - [`state`]: states, events and the pure transition function.
//! - [`model`]: checkout, lines, totals, orders.

pub mod billing;
pub mod card;
pub mod model;
pub mod state;
