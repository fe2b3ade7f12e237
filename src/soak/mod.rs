//! `checkout-gateway soak`: several `serve` replicas on one fresh Postgres database, against a
//! sandbox that injects 5xx, latency, dropped connections and 429s, with replicas killed
//! (`kill -9`) and restarted at random while simulated users buy, decline, release and abandon
//! checkouts. Then the faults stop, every replica runs again, and the run waits until the
//! database says every checkout is final. It prints what happened and what it checked, and
//! fails when any check fails: see [`verdict`].
//!
//! # Layout
//! - [`fleet`]: the replicas — start, kill, restart, and a live one for each call.
//! - [`users`]: the simulated users' journeys, each call retried as a real app would.
//! - [`chaos`]: the fault injector and the replica killer.
//! - [`verdict`]: the end state, read from the database, the sandbox, a `pg_dump` and the
//!   replicas' logs.
//! - [`rng`]: a seeded generator, so a run's choices can be replayed with `--seed`.

pub mod chaos;
pub mod fleet;
pub mod rng;
pub mod users;
pub mod verdict;

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::bench::harness::{Env, fresh_database, machine, start_sandbox};
use crate::config::Settings;
use crate::sandbox::{Dialect, SandboxConfig};
use fleet::{Fleet, FleetSpec};

/// How long and how hard a soak runs.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    /// Time under faults and kills; settling comes after.
    pub duration: Duration,
    pub replicas: usize,
    pub users: usize,
    /// Mean time between two `kill -9`s.
    pub kill_every: Duration,
    /// Seeds the users' and the chaos' choices.
    pub seed: u64,
    /// How the sandbox reads the points where the docs are silent (`--dialect`).
    pub dialect: Dialect,
}

/// Lease and sweep short enough that a killed replica's checkouts are taken over, and an
/// abandoned checkout released, many times within a run.
const LEASE_SECS: &str = "5";
const SWEEP_SECS: &str = "1";
const ABANDON_AFTER_SECS: &str = "15";
/// The longest the run waits, after the chaos, for every checkout to be final.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);

/// Upstream as the soak meets it: every updating call polled, short waits, holds that outlast
/// the run (so a hold released is one the gateway released, never one that just ran out), a
/// per-apikey quota the deployment must keep to, and a venue big enough not to sell out; in the
/// run's dialect.
fn soak_upstream(dialect: Dialect) -> SandboxConfig {
    SandboxConfig {
        force_polling: true,
        poll_wait_secs: 0.3,
        hold_secs: 3600,
        requests_per_second: Some(60.0),
        seats_per_row: Some(200),
        dialect,
        ..SandboxConfig::default()
    }
}

pub async fn run(settings: Settings, plan: SoakPlan) -> anyhow::Result<()> {
    let secret = settings
        .auth
        .jwt_hs256_secret
        .clone()
        .ok_or_else(|| anyhow::anyhow!("auth.jwt_hs256_secret is not set"))?;
    let env = std::sync::Arc::new(Env::new(secret)?);
    println!("{}", machine());
    println!(
        "soak: {} s, {} replicas, {} users, a kill every ~{} s, seed {}",
        plan.duration.as_secs(),
        plan.replicas,
        plan.users,
        plan.kill_every.as_secs(),
        plan.seed
    );
    if plan.dialect != Dialect::default() {
        println!("sandbox dialect: {}", plan.dialect);
    }
    let sandbox = start_sandbox(soak_upstream(plan.dialect)).await?;
    let database_url = fresh_database().await;
    let logs = std::env::temp_dir().join(format!("checkout-gateway-soak-{}", plan.seed));
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let fleet = Fleet::start(
        &env,
        FleetSpec {
            database_url: database_url.clone(),
            upstream: sandbox.base_url(),
            settings: vec![
                ("APP__CHECKOUT__LEASE_SECS", LEASE_SECS),
                ("APP__SWEEPER__INTERVAL_SECS", SWEEP_SECS),
                ("APP__CHECKOUT__ABANDON_AFTER_SECS", ABANDON_AFTER_SECS),
                // Under the sandbox's 60/s for the whole deployment.
                ("APP__UPSTREAM__REQUESTS_PER_SECOND", "50"),
                // Every line the gateway writes at debug is searched for card data.
                ("APP__LOG__LEVEL", "info,checkout_gateway=debug"),
            ],
            logs: logs.clone(),
        },
        plan.replicas,
    )
    .await?;

    let started = Instant::now();
    let stop = CancellationToken::new();
    let users = users::spawn(&env, &fleet, plan.users, plan.seed, &stop);
    let chaos = chaos::spawn(
        &env,
        &fleet,
        &sandbox,
        chaos::ChaosPlan {
            kill_every: plan.kill_every,
            seed: plan.seed ^ 0x9e37_79b9_7f4a_7c15,
        },
        &stop,
    );
    tokio::time::sleep(plan.duration).await;
    stop.cancel();
    let tally = users.join().await;
    let chaos = chaos.join().await?;
    sandbox.clear_faults();
    fleet.restart_stopped(&env).await?;
    println!(
        "chaos over after {:.0} s; settling (at most {} s)",
        started.elapsed().as_secs_f64(),
        SETTLE_LIMIT.as_secs()
    );
    let settled_in = verdict::settle(&database_url, SETTLE_LIMIT).await?;
    fleet.stop_all().await;
    let verdict = verdict::judge(verdict::Evidence {
        database_url: &database_url,
        sandbox: &sandbox,
        logs: &logs,
        tally: &tally,
        chaos: &chaos,
        settled_in,
    })
    .await?;
    sandbox.stop().await;
    verdict.print();
    anyhow::ensure!(verdict.passed(), "the soak failed: see the table above");
    Ok(())
}
