//! The soak's chaos: every 0.5–2 s a fault planned into the sandbox for the next 1–3 calls of
//! one operation (a 500 or 503, 0.2–3 s of latency, a connection dropped after the operation
//! committed, or a 429 quota fault), and about every `kill_every` a replica killed with
//! `kill -9` and started again 0–3 s later; and, when planned, a Postgres outage and an
//! upstream outage ([`super::outage`]), during which no replica is killed (each must recover
//! by itself).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::fleet::Fleet;
use super::outage::{self, OutageReport, UpstreamGate};
use super::rng::Rng;
use crate::sandbox::{Fault, FaultKind, Operation, SandboxHandle};
use crate::tools::bench::harness::Env;

pub struct ChaosPlan {
    pub kill_every: Duration,
    pub seed: u64,
    pub outages: OutagePlan,
}

/// When (seconds into the run) Postgres and upstream go away, if at all.
#[derive(Debug, Clone, Default)]
pub struct OutagePlan {
    pub postgres_at: Option<Duration>,
    pub upstream_at: Option<Duration>,
    /// The relay the replicas reach upstream through (needed for an upstream outage).
    pub gate: Option<Arc<UpstreamGate>>,
}

/// How long each outage lasts.
pub const POSTGRES_OUTAGE: Duration = Duration::from_secs(10);
pub const UPSTREAM_OUTAGE: Duration = Duration::from_secs(60);

/// What the chaos did.
#[derive(Debug, Default)]
pub struct ChaosReport {
    /// Faults planned, by kind (the sandbox counts those that were hit).
    pub faults_planned: BTreeMap<&'static str, u64>,
    pub kills: u64,
    pub outages: Vec<OutageReport>,
}

/// The chaos, running.
pub struct Chaos {
    faults: JoinHandle<BTreeMap<&'static str, u64>>,
    kills: JoinHandle<anyhow::Result<u64>>,
    outages: Vec<JoinHandle<anyhow::Result<OutageReport>>>,
}

impl Chaos {
    pub async fn join(self) -> anyhow::Result<ChaosReport> {
        let mut outages = Vec::new();
        for outage in self.outages {
            outages.push(outage.await??);
        }
        Ok(ChaosReport {
            faults_planned: self.faults.await?,
            kills: self.kills.await??,
            outages,
        })
    }
}

/// Held (read) by a kill and its restart, and (write) by an outage with its recovery check:
/// no replica is killed or started while one runs.
type Calm = Arc<tokio::sync::RwLock<()>>;

/// The operations faults target: every call of a purchase's conversation.
const TARGETS: [Operation; 8] = [
    Operation::OpenCart,
    Operation::Reserve,
    Operation::Certificate,
    Operation::Payment,
    Operation::Purchase,
    Operation::Delete,
    Operation::Poll,
    Operation::Any,
];

pub fn spawn(
    env: &Arc<Env>,
    fleet: &Arc<Fleet>,
    sandbox: &SandboxHandle,
    plan: ChaosPlan,
    stop: &CancellationToken,
) -> Chaos {
    let faults = tokio::spawn(plan_faults(
        sandbox.injector(),
        Rng::new(plan.seed),
        stop.clone(),
    ));
    let calm = Calm::default();
    let kills = tokio::spawn(kill_replicas(
        env.clone(),
        fleet.clone(),
        KillPlan {
            every: plan.kill_every,
            rng: Rng::new(plan.seed.rotate_left(17)),
            calm: calm.clone(),
        },
        stop.clone(),
    ));
    let mut outages = Vec::new();
    let started = tokio::time::Instant::now();
    if let Some(at) = plan.outages.postgres_at {
        let (env, fleet, calm) = (env.clone(), fleet.clone(), calm.clone());
        outages.push(tokio::spawn(async move {
            tokio::time::sleep_until(started + at).await;
            let _quiet = calm.write().await;
            let began_at = started.elapsed();
            outage::postgres_outage(POSTGRES_OUTAGE).await?;
            Ok(report(
                "Postgres",
                began_at,
                started.elapsed() - began_at,
                outage::recovery(&env, &fleet).await,
            ))
        }));
    }
    if let (Some(at), Some(gate)) = (plan.outages.upstream_at, plan.outages.gate.clone()) {
        let (env, fleet, calm) = (env.clone(), fleet.clone(), calm.clone());
        outages.push(tokio::spawn(async move {
            tokio::time::sleep_until(started + at).await;
            let _quiet = calm.write().await;
            let began_at = started.elapsed();
            gate.outage(UPSTREAM_OUTAGE).await;
            Ok(report(
                "upstream",
                began_at,
                started.elapsed() - began_at,
                outage::recovery(&env, &fleet).await,
            ))
        }));
    }
    Chaos {
        faults,
        kills,
        outages,
    }
}

fn report(
    what: &'static str,
    began_at: Duration,
    lasted: Duration,
    (not_recovered, recovered_in): (usize, Duration),
) -> OutageReport {
    println!(
        "{what} outage at {:.0} s, {:.0} s long: {not_recovered} replicas not ready {:.1} s after",
        began_at.as_secs_f64(),
        lasted.as_secs_f64(),
        recovered_in.as_secs_f64()
    );
    OutageReport {
        what,
        began_at,
        lasted,
        not_recovered,
        recovered_in,
    }
}

async fn plan_faults(
    inject: impl Fn(Fault),
    mut rng: Rng,
    stop: CancellationToken,
) -> BTreeMap<&'static str, u64> {
    let mut planned = BTreeMap::new();
    loop {
        let pause = rng.between(Duration::from_millis(500), Duration::from_secs(2));
        tokio::select! {
            () = stop.cancelled() => return planned,
            () = tokio::time::sleep(pause) => {}
        }
        let kind = match rng.below(4) {
            0 => FaultKind::Status {
                status: if rng.percent(50) { 500 } else { 503 },
            },
            1 => FaultKind::Latency {
                latency_ms: 200 + rng.below(2800),
            },
            2 => FaultKind::DropAfterCommit,
            _ => FaultKind::RateLimit {
                reset_ms: 500 + rng.below(1500),
            },
        };
        let operation = *rng.pick(&TARGETS).unwrap_or(&Operation::Any);
        *planned.entry(kind.name()).or_default() += 1;
        inject(Fault {
            operation,
            kind,
            count: Some(1 + rng.below(3) as u32),
        });
    }
}

struct KillPlan {
    every: Duration,
    rng: Rng,
    calm: Calm,
}

async fn kill_replicas(
    env: Arc<Env>,
    fleet: Arc<Fleet>,
    mut plan: KillPlan,
    stop: CancellationToken,
) -> anyhow::Result<u64> {
    let mut kills = 0;
    loop {
        let pause = plan.rng.between(plan.every / 2, plan.every * 3 / 2);
        tokio::select! {
            () = stop.cancelled() => return Ok(kills),
            () = tokio::time::sleep(pause) => {}
        }
        let _calm = plan.calm.read().await;
        let slot = plan.rng.below(fleet.len() as u64) as usize;
        fleet.kill(slot).await?;
        kills += 1;
        let down = plan.rng.between(Duration::ZERO, Duration::from_secs(3));
        tokio::time::sleep(down).await;
        fleet.restart(&env, slot).await?;
    }
}
