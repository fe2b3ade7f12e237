//! Background work every replica runs.
//!
//! # Layout
//! - [`worker`]: the sweeper and resumer — takes over checkouts whose worker died, releases
//!   abandoned carts and expired holds.
//! - [`model`]: job runs, findings and webhook deliveries as stored.

pub mod model;
pub mod worker;
