//! The soak's chaos: every 0.5–2 s a fault planned into the sandbox for the next 1–3 calls of
//! one operation (a 500 or 503, 0.2–3 s of latency, a connection dropped after the operation
//! committed, or a 429 quota fault), and about every `kill_every` a replica killed with
//! `kill -9` and started again 0–3 s later.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::fleet::Fleet;
use super::rng::Rng;
use crate::bench::harness::Env;
use crate::sandbox::{Fault, FaultKind, Operation, SandboxHandle};

pub struct ChaosPlan {
    pub kill_every: Duration,
    pub seed: u64,
}

/// What the chaos did.
#[derive(Debug, Default)]
pub struct ChaosReport {
    /// Faults planned, by kind (the sandbox counts those that were hit).
    pub faults_planned: BTreeMap<&'static str, u64>,
    pub kills: u64,
}

/// The chaos, running.
pub struct Chaos {
    faults: JoinHandle<BTreeMap<&'static str, u64>>,
    kills: JoinHandle<anyhow::Result<u64>>,
}

impl Chaos {
    pub async fn join(self) -> anyhow::Result<ChaosReport> {
        Ok(ChaosReport {
            faults_planned: self.faults.await?,
            kills: self.kills.await??,
        })
    }
}

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
    let kills = tokio::spawn(kill_replicas(
        env.clone(),
        fleet.clone(),
        KillPlan {
            every: plan.kill_every,
            rng: Rng::new(plan.seed.rotate_left(17)),
        },
        stop.clone(),
    ));
    Chaos { faults, kills }
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
        let slot = plan.rng.below(fleet.len() as u64) as usize;
        fleet.kill(slot).await?;
        kills += 1;
        let down = plan.rng.between(Duration::ZERO, Duration::from_secs(3));
        tokio::time::sleep(down).await;
        fleet.restart(&env, slot).await?;
    }
}
