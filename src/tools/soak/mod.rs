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
//! - [`chaos`]: the fault injector and the replica killer; [`outage`]: Postgres and upstream
//!   going away for a while.
//! - [`verdict`]: the end state, read from the database, the sandbox, a `pg_dump` and the
//!   replicas' logs.
//! - [`rng`]: a seeded generator, so a run's choices can be replayed with `--seed`.

pub mod chaos;
pub mod fleet;
pub mod outage;
pub mod rng;
pub mod users;
pub mod verdict;

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::sandbox::{Dialect, SandboxConfig};
use crate::tools::bench::harness::{Env, Ticker, fresh_database, machine, start_sandbox};
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
    /// When (into the run) Postgres is stopped for [`chaos::POSTGRES_OUTAGE`], if at all.
    pub postgres_outage_at: Option<Duration>,
    /// When upstream becomes unreachable for [`chaos::UPSTREAM_OUTAGE`], if at all.
    pub upstream_outage_at: Option<Duration>,
}

/// Lease and sweep short enough that a killed replica's checkouts are taken over, and an
/// abandoned checkout released, many times within a run.
const LEASE_SECS: &str = "5";
const SWEEP_SECS: &str = "1";
const ABANDON_AFTER_SECS: &str = "15";
/// A lost purchase with no order found this long is `purchase_unconfirmed` (the minimum).
const UNCONFIRMED_AFTER_SECS: &str = "30";
/// The longest the run waits, after the chaos, for every checkout to settle (an unconfirmed
/// purchase's lookups come a minute apart and more).
const SETTLE_LIMIT: Duration = Duration::from_secs(300);

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
    for (at, len) in [
        (plan.postgres_outage_at, chaos::POSTGRES_OUTAGE),
        (plan.upstream_outage_at, chaos::UPSTREAM_OUTAGE),
    ] {
        if let Some(at) = at {
            anyhow::ensure!(
                at + len < plan.duration,
                "an outage must end before the chaos"
            );
        }
    }
    let sandbox = start_sandbox(soak_upstream(plan.dialect)).await?;
    let sandbox_addr: std::net::SocketAddr = url::Url::parse(&sandbox.base_url())?
        .socket_addrs(|| None)?
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the sandbox has no address"))?;
    let gate = outage::UpstreamGate::start(sandbox_addr).await?;
    let database_url = fresh_database().await;
    let logs = std::env::temp_dir().join(format!("checkout-gateway-soak-{}", plan.seed));
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let fleet = Fleet::start(
        &env,
        FleetSpec {
            database_url: database_url.clone(),
            upstream: gate.base_url(&sandbox.base_url(), sandbox_addr),
            settings: vec![
                ("APP__CHECKOUT__LEASE_SECS", LEASE_SECS),
                ("APP__SWEEPER__INTERVAL_SECS", SWEEP_SECS),
                ("APP__CHECKOUT__ABANDON_AFTER_SECS", ABANDON_AFTER_SECS),
                (
                    "APP__CHECKOUT__UNCONFIRMED_AFTER_SECS",
                    UNCONFIRMED_AFTER_SECS,
                ),
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
            outages: chaos::OutagePlan {
                postgres_at: plan.postgres_outage_at,
                upstream_at: plan.upstream_outage_at,
                gate: Some(gate.clone()),
            },
        },
        &stop,
    );
    let total = plan.duration.as_secs();
    let ticker = Ticker::start(Duration::from_secs(30), move || {
        format!("of {total} s of chaos")
    });
    tokio::time::sleep(plan.duration).await;
    drop(ticker);
    stop.cancel();
    let tally = users.join().await;
    let chaos = chaos.join().await?;
    sandbox.clear_faults();
    let exited_on_their_own = fleet.exited_on_their_own().await;
    fleet.restart_stopped(&env).await?;
    println!(
        "chaos over after {:.0} s; settling (at most {} s)",
        started.elapsed().as_secs_f64(),
        SETTLE_LIMIT.as_secs()
    );
    let settled_in = verdict::settle(&database_url, &sandbox, SETTLE_LIMIT).await?;
    fleet.stop_all().await;
    let verdict = verdict::judge(verdict::Evidence {
        database_url: &database_url,
        sandbox: &sandbox,
        logs: &logs,
        tally: &tally,
        chaos: &chaos,
        settled_in,
        exited_on_their_own,
    })
    .await?;
    sandbox.stop().await;
    verdict.print();
    anyhow::ensure!(verdict.passed(), "the soak failed: see the table above");
    Ok(())
}
