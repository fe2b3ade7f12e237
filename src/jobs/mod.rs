//! Background work every replica runs.
//!
//! # Layout
//! - [`worker`]: the sweeper and resumer — takes over checkouts whose worker died, releases
//!   abandoned carts and expired holds.

pub mod worker;
