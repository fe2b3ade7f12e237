//! The development tools, compiled only with the `dev-tools` feature (on by default, off in
//! the Dockerfile's production build): nothing here is reachable from `serve`.
//!
//! - [`cli`]: their commands (`sandbox`, `token`, `demo`, `bench`, `soak`).
//! - [`demo`]: one purchase walked through the public API, in-process.
//! - [`bench`], [`soak`]: the benchmarks and the soak.
//! - `fuzz`: what the `cargo fuzz` targets in `fuzz/` run.
//! - [`testdb`]: fresh databases for the tests (panics on failure, as a test wants).
//! - [`token`]: development user tokens (refused in production).

pub mod bench;
pub mod cli;
pub mod demo;
#[doc(hidden)]
pub mod fuzz;
pub mod soak;
pub mod testdb;
pub mod token;
