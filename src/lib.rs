//! checkout-gateway: a payments-grade gateway in front of the Ticketmaster Partner API.
//!
//! # Layout
//! Layers, lowest last (docs/architecture.md; `tests/architecture.rs` fails on an import that
//! runs upward): wiring `cli → tools → startup → config`; `http`; `jobs`; `checkout`;
//! `context`, `payment_crypto`, `sandbox`, `readiness`; `store`, `upstream`; the vocabulary
//! `jobs::model`, `checkout::model`, `checkout::state`; leaves.
//!
//! - [`cli`], [`startup`], [`config`]: process wiring; the only readers of the whole
//!   configuration. [`context`]: the shared handles every part is given.
//! - [`http`]: routes only — extractors, DTOs, problem+json mapping.
//! - [`jobs`]: the sweeper, the unredeemed-orders job, webhook delivery.
//! - [`checkout`]: the domain — state machine (pure transitions), use cases, domain errors.
//! - [`upstream`]: the Partner-API client — wire types, auth, polling, quota, error mapping.
//! - [`payment_crypto`]: certificate cache, salt + RSA PKCS#1 v1.5 encryption of card fields.
//! - [`store`]: persistence, one trait per aggregate, Postgres and SQLite implementations.
//! - [`sandbox`]: the built-in Partner-API simulator (in-process for `serve`'s default).
//! - Leaves: [`card`] (card fields as secrets), [`ids`], [`clock`], [`digest`],
//!   [`heartbeat`] (the renewal guard of leases and claims), [`metrics`], [`telemetry`].
//! - `tools` (feature `dev-tools`, on by default): the standalone sandbox and dev-token
//!   commands, the demo, the benchmarks, the soak, the fuzz entry points and the tests'
//!   fresh databases — none of it in the production build (`--no-default-features`).

pub mod card;
pub mod checkout;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod digest;
pub mod heartbeat;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod liveness;
pub mod metrics;
pub mod payment_crypto;
pub mod readiness;
pub mod sandbox;
pub mod startup;
pub mod store;
pub mod telemetry;
#[cfg(feature = "dev-tools")]
pub mod tools;
pub mod upstream;
