//! Outages the soak can put the deployment through, besides the chaos' faults and kills:
//! - Postgres gone for a while (stopped hard, as a crash would, then started again), with
//!   every replica left running: each must recover on its own;
//! - upstream unreachable for a while: the replicas reach the sandbox through [`UpstreamGate`],
//!   a TCP relay that, during an outage, refuses new connections and cuts the open ones.
//!
//! After each outage every running replica must answer `/readyz` again within
//! [`RECOVERY_LIMIT`], without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::fleet::Fleet;
use crate::tools::bench::harness::Env;

/// How long each replica has, after an outage ends, to answer `/readyz` again.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

/// One outage as it happened.
#[derive(Debug, Clone)]
pub struct OutageReport {
    pub what: &'static str,
    /// Seconds into the run when it began, and how long it lasted.
    pub began_at: Duration,
    pub lasted: Duration,
    /// Running replicas that did not answer `/readyz` within [`RECOVERY_LIMIT`] after it.
    pub not_recovered: usize,
    /// How long after its end every running replica answered again.
    pub recovered_in: Duration,
}

/// A TCP relay in front of upstream that can be made unreachable.
#[derive(Debug)]
pub struct UpstreamGate {
    addr: SocketAddr,
    down: watch::Sender<bool>,
}

impl UpstreamGate {
    /// Relays `127.0.0.1:<new port>` to `target` until dropped.
    pub async fn start(target: SocketAddr) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (down, watch) = watch::channel(false);
        tokio::spawn(relay(listener, target, watch));
        Ok(Arc::new(Self { addr, down }))
    }

    /// `base` (the sandbox's base URL) with the relay's address in place of the sandbox's.
    pub fn base_url(&self, base: &str, target: SocketAddr) -> String {
        base.replacen(&target.to_string(), &self.addr.to_string(), 1)
    }

    /// Upstream is unreachable for `len`: connections refused, open ones cut.
    pub async fn outage(&self, len: Duration) {
        self.set_down(true);
        tokio::time::sleep(len).await;
        self.set_down(false);
    }

    /// Down (connections refused, open ones cut) or up, until told otherwise. The relay is
    /// plain TCP: tests put it in front of Postgres too.
    pub fn set_down(&self, down: bool) {
        let _ = self.down.send(down);
    }

    /// Where the relay listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Accepts and relays while up; while down, listens on nothing (connections are refused) and
/// has cut every relayed connection. The same port is taken again when it is up.
async fn relay(listener: TcpListener, target: SocketAddr, mut down: watch::Receiver<bool>) {
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(_) => return,
    };
    let mut listener = Some(listener);
    loop {
        let Some(open) = listener.take() else {
            // Down: wait to be up, then listen on the same port again.
            if down.wait_for(|d| !*d).await.is_err() {
                return;
            }
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "upstream relay could not listen again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            continue;
        };
        let cut = CancellationToken::new();
        loop {
            tokio::select! {
                changed = down.wait_for(|d| *d) => {
                    if changed.is_err() {
                        return;
                    }
                    cut.cancel();
                    break;
                }
                accepted = open.accept() => {
                    let Ok((inbound, _)) = accepted else { continue };
                    tokio::spawn(pipe(inbound, target, cut.child_token()));
                }
            }
        }
        drop(open);
    }
}

async fn pipe(mut inbound: TcpStream, target: SocketAddr, cut: CancellationToken) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        () = cut.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
    }
}

/// Stops Postgres hard for `len`, then starts it again. The commands are `SOAK_POSTGRES_STOP`
/// and `SOAK_POSTGRES_START` (shell), by default `pg_ctlcluster` on the machine's one cluster.
pub async fn postgres_outage(len: Duration) -> anyhow::Result<()> {
    let cluster = "$(ls /etc/postgresql | head -n1) main";
    let stop = std::env::var("SOAK_POSTGRES_STOP").unwrap_or_else(|_| {
        format!("pg_ctlcluster --skip-systemctl-redirect {cluster} stop -m immediate")
    });
    let start = std::env::var("SOAK_POSTGRES_START")
        .unwrap_or_else(|_| format!("pg_ctlcluster --skip-systemctl-redirect {cluster} start"));
    shell(&stop).await?;
    tokio::time::sleep(len).await;
    shell(&start).await
}

async fn shell(command: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .await?;
    anyhow::ensure!(status.success(), "`{command}` failed: {status}");
    Ok(())
}

/// After an outage: how many running replicas did not answer `/readyz` within
/// [`RECOVERY_LIMIT`], and how long until all that did.
pub async fn recovery(env: &Env, fleet: &Fleet) -> (usize, Duration) {
    let started = Instant::now();
    let deadline = started + RECOVERY_LIMIT;
    loop {
        let mut waiting = 0;
        for base in fleet.running() {
            let ready = env
                .client
                .get(format!("{base}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if !ready {
                waiting += 1;
            }
        }
        if waiting == 0 || Instant::now() >= deadline {
            return (waiting, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
