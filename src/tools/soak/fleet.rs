//! The soak's replicas: `serve` child processes on one database, each in a slot that the
//! chaos can empty (`kill -9`) and fill again (a new process, a new port). Users ask for a
//! live replica per call, as a load balancer would route them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Mutex;

use super::rng::Rng;
use crate::tools::bench::harness::{Env, Replica, ReplicaSpec};

/// What every replica of the fleet is started with.
pub struct FleetSpec {
    pub database_url: String,
    pub upstream: String,
    /// `APP__…` settings on top of the harness's.
    pub settings: Vec<(&'static str, &'static str)>,
    /// `replica-<slot>.log` for each slot, appended to across restarts.
    pub logs: PathBuf,
}

pub struct Fleet {
    spec: FleetSpec,
    slots: Vec<Mutex<Option<Replica>>>,
    /// The base URL of each slot's running replica, for users to pick from without waiting
    /// on a slot being restarted.
    bases: RwLock<Vec<Option<String>>>,
    /// Replicas found dead that nobody killed (a crash, or an exit on a lost database).
    exited_on_their_own: AtomicU64,
}

impl Fleet {
    pub async fn start(env: &Env, spec: FleetSpec, replicas: usize) -> anyhow::Result<Arc<Self>> {
        let fleet = Arc::new(Self {
            spec,
            slots: (0..replicas).map(|_| Mutex::new(None)).collect(),
            bases: RwLock::new(vec![None; replicas]),
            exited_on_their_own: AtomicU64::new(0),
        });
        for slot in 0..replicas {
            fleet.restart(env, slot).await?;
        }
        Ok(fleet)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The base URLs of the running replicas.
    pub fn running(&self) -> Vec<String> {
        let bases = self.bases.read().unwrap_or_else(|p| p.into_inner());
        bases.iter().flatten().cloned().collect()
    }

    /// Replicas that exited without being killed, so far (every slot is looked at).
    pub async fn exited_on_their_own(&self) -> u64 {
        for slot in &self.slots {
            if let Some(replica) = slot.lock().await.as_mut() {
                self.note_exit(replica);
            }
        }
        self.exited_on_their_own.load(Ordering::Relaxed)
    }

    /// Counts `replica` if it exited by itself, once (it is killed, or looked at, only once
    /// more).
    fn note_exit(&self, replica: &mut Replica) {
        if replica.has_exited() {
            self.exited_on_their_own.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A running replica's base URL, at random; `None` while every slot is down.
    pub fn pick(&self, rng: &mut Rng) -> Option<String> {
        let bases = self.bases.read().unwrap_or_else(|p| p.into_inner());
        let live: Vec<&String> = bases.iter().flatten().collect();
        rng.pick(&live).map(|base| (*base).clone())
    }

    /// `kill -9` the replica in `slot` (if one runs there).
    pub async fn kill(&self, slot: usize) -> anyhow::Result<()> {
        let mut guard = self.slots[slot].lock().await;
        self.set_base(slot, None);
        if let Some(mut replica) = guard.take() {
            self.note_exit(&mut replica);
            replica.kill()?;
        }
        Ok(())
    }

    /// Start a new replica in `slot` (killing the one there, if any) and wait until it is ready.
    pub async fn restart(&self, env: &Env, slot: usize) -> anyhow::Result<()> {
        let mut guard = self.slots[slot].lock().await;
        self.set_base(slot, None);
        if let Some(mut old) = guard.take() {
            self.note_exit(&mut old);
            old.kill()?;
        }
        let log = self.spec.logs.join(format!("replica-{slot}.log"));
        let replica = Replica::start(
            env,
            &ReplicaSpec {
                database_url: &self.spec.database_url,
                upstream: &self.spec.upstream,
                env: &self.spec.settings,
                log: Some(&log),
            },
        )
        .await?;
        self.set_base(slot, Some(replica.base.clone()));
        *guard = Some(replica);
        Ok(())
    }

    /// Every empty slot gets a replica again.
    pub async fn restart_stopped(&self, env: &Env) -> anyhow::Result<()> {
        for slot in 0..self.len() {
            if self.slots[slot].lock().await.is_none() {
                self.restart(env, slot).await?;
            }
        }
        Ok(())
    }

    /// Kill every replica (the run is over).
    pub async fn stop_all(&self) {
        for slot in 0..self.len() {
            let _ = self.kill(slot).await;
        }
    }

    fn set_base(&self, slot: usize, base: Option<String>) {
        self.bases.write().unwrap_or_else(|p| p.into_inner())[slot] = base;
    }
}
