//! checkout-gateway: a payments-grade gateway in front of the Ticketmaster Partner API.
//!
//! # Layout
//! The direction of calls is `http → checkout → {store, upstream, payment_crypto}`; nothing
//! calls `http`, `upstream` knows nothing of checkouts and `store` knows nothing of HTTP.
//!
//! - [`cli`], [`config`], [`startup`], [`telemetry`]: process wiring.
//! - [`http`]: routes only — extractors, DTOs, problem+json mapping.
//! - [`checkout`]: the domain — state machine (pure transitions), use cases, domain errors.
//! - [`upstream`]: the Partner-API client — wire types, auth, polling, quota, error mapping.
//! - [`payment_crypto`]: certificate cache, salt + RSA PKCS#1 v1.5 encryption of card fields.
//! - [`store`]: persistence, one trait per aggregate, Postgres and SQLite implementations.
//! - [`sandbox`]: the built-in Partner-API simulator (also `checkout-gateway sandbox`).
//! - [`ids`], [`clock`]: typed prefixed ids and an injectable clock.
//! - [`heartbeat`]: the renewal loop that keeps a lease or a key claimed while work runs.
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
