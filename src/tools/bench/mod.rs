//! `checkout-gateway bench …`: the benchmarks, each with a baseline measured in the same run
//! (these machines are shared and noisy, so only ratios travel).
//!
//! - `quota`: the issue-5 quota benchmark (K users × R replicas vs naive clients).
//! - `overhead`: cached event view and checkout read through a `serve` process vs a bare
//!   actix-web handler returning the same bytes, with `wrk` on loopback.
//! - `flow`: per-step time the gateway adds to a purchase beyond upstream's own response times;
//!   RSA encryptions per second per core vs `openssl speed rsa2048`.
//! - `steps`: statements, writes and transactions per step of a purchase, by kind.
//! - `scale`: resident memory and database size with 1k then 10k checkouts in flight.
//! - `recovery`: `kill -9` of a replica to the first resumed upstream call by another.
//! - `fairness`: one user's purchases while another floods the quota-spending reads, against
//!   the same purchases alone.
//!
//! Each writes its figures as JSON too ([`results`]: `target/bench-results/<bench>.json`).
//!
//! `harness` owns what they share: a fresh Postgres database, a standalone sandbox, `serve`
//! child processes, user tokens, percentiles.

pub mod charts;
pub mod fairness;
pub mod floor;
pub mod flow;
pub mod harness;
pub mod overhead;
pub mod quota;
pub mod recovery;
pub mod results;
pub mod scale;
pub mod steps;

pub use quota::{BenchPlan, RunFigures, run};

use crate::config::Settings;

/// Which benchmark `bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Quota,
    Overhead,
    Flow,
    Steps,
    Scale,
    Recovery,
    Fairness,
    /// overhead, flow, steps, scale, recovery and fairness (quota has its own table in README).
    All,
}

/// Sizes of the issue-8 benchmarks.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// `wrk` duration per target, seconds.
    pub duration_secs: u64,
    /// `wrk` connections (threads: the machine's cores).
    pub connections: u32,
    /// Sequential purchases timed by `flow`.
    pub purchases: usize,
    /// Checkouts in flight measured by `scale`, ascending (e.g. 1000, 10000).
    pub checkouts: Vec<usize>,
    /// Checkouts mid-poll on the killed replica in `recovery`.
    pub recovery_checkouts: usize,
    /// Purchases timed by `fairness`, alone and again under the flood.
    pub fairness_purchases: usize,
}

pub async fn run_selected(settings: Settings, which: Which, sizes: Sizes) -> anyhow::Result<()> {
    let secret = settings
        .auth
        .jwt_hs256_secret
        .clone()
        .ok_or_else(|| anyhow::anyhow!("auth.jwt_hs256_secret is not set"))?;
    let env = harness::Env::new(secret)?;
    println!("{}", harness::machine());
    let all = which == Which::All;
    if all || which == Which::Overhead {
        overhead::run(&env, &sizes).await?;
    }
    if all || which == Which::Flow {
        flow::run(&env, &sizes).await?;
    }
    if all || which == Which::Steps {
        steps::run(&env, &sizes).await?;
    }
    if all || which == Which::Scale {
        scale::run(&env, &sizes).await?;
    }
    if all || which == Which::Recovery {
        recovery::run(&env, &sizes).await?;
    }
    if all || which == Which::Fairness {
        fairness::run(&env, &sizes).await?;
    }
    Ok(())
}
