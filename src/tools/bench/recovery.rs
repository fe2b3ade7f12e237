//! Part 4, recovery: two `serve` processes on one Postgres with default settings; N checkouts
//! mid-poll on replica A (the sandbox forces polling with a 1 s wait and many rounds, so A
//! keeps polling); `kill -9` A; then the time until upstream hears the first call for those
//! checkouts from replica B, and until it has heard N (about one resumed call per checkout).
//! The baseline is what the design promises: A's heartbeat is stale `replica.dead_after_secs`
//! after its last one (at most one heartbeat interval before the kill), B sees that at its next
//! heartbeat and sweeps at once: dead-after + one heartbeat interval.

use std::time::{Duration, Instant};

use super::Sizes;
use super::harness::{Env, Replica, ReplicaSpec, fresh_database, start_sandbox, wait_until};
use crate::sandbox::SandboxConfig;

/// The defaults of `replica.dead_after_secs` and `replica.heartbeat_secs` (config/base.toml).
const DEAD_AFTER_SECS: u64 = 3;
const HEARTBEAT_SECS: u64 = 1;
const POLL_WAIT_SECS: u64 = 1;

pub async fn run(env: &Env, sizes: &Sizes) -> anyhow::Result<()> {
    let n = sizes.recovery_checkouts.max(1);
    let sandbox = start_sandbox(SandboxConfig {
        force_polling: true,
        poll_wait_secs: POLL_WAIT_SECS as f64,
        poll_rounds: 100_000,
        hold_secs: 3600,
        update_latency: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await?;
    let database_url = fresh_database().await;
    let upstream = sandbox.base_url();
    // Defaults but for abandoning: nothing is released as abandoned during the run.
    let settings = [("APP__CHECKOUT__ABANDON_AFTER_SECS", "86400")];
    let spec = ReplicaSpec {
        database_url: &database_url,
        upstream: &upstream,
        env: &settings,
        log: None,
    };
    let mut a = Replica::start(env, &spec).await?;
    let _b = Replica::start(env, &spec).await?;
    let token = env.token("bench-recovery")?;
    for _ in 0..n {
        env.create(&a.base, &token, 0).await?;
    }
    // Every checkout polling on A: at least two polls each heard upstream.
    let polling = wait_until(Duration::from_secs(60), Duration::from_millis(50), || {
        let stats = sandbox.stats();
        stats
            .requests_by_operation
            .get("poll")
            .copied()
            .unwrap_or(0)
            >= 2 * n as u64
    })
    .await;
    anyhow::ensure!(polling, "the checkouts did not start polling on replica A");
    a.kill()?;
    let killed = Instant::now();
    let before = sandbox.stats().requests;
    let mut first = None;
    let mut all = None;
    // (seconds after the kill, upstream calls heard since): the recovery timeline.
    let mut timeline = vec![(0.0, 0u64)];
    let deadline = killed + Duration::from_secs(60);
    while all.is_none() && Instant::now() < deadline {
        let heard = sandbox.stats().requests.saturating_sub(before);
        if timeline.last().is_some_and(|(_, last)| *last != heard) {
            timeline.push((killed.elapsed().as_secs_f64(), heard));
        }
        if heard > 0 && first.is_none() {
            first = Some(killed.elapsed());
        }
        if heard >= n as u64 {
            all = Some(killed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(_b);
    sandbox.stop().await;
    let show = |d: Option<Duration>| {
        d.map_or("not within 60 s".to_owned(), |d| {
            format!("{:.2}", d.as_secs_f64())
        })
    };
    let bound = (DEAD_AFTER_SECS + HEARTBEAT_SECS) as f64;
    println!();
    println!(
        "## Recovery (`kill -9` of the replica owning {n} checkouts mid-poll; default settings: heartbeat {HEARTBEAT_SECS} s, dead after {DEAD_AFTER_SECS} s)"
    );
    println!();
    println!(
        "| measure | seconds after the kill | against dead-after ({DEAD_AFTER_SECS} s) | against dead-after + one heartbeat ({bound:.0} s) |"
    );
    println!("| --- | --- | --- | --- |");
    let ratio = |d: Option<Duration>, of: f64| {
        d.map_or("—".to_owned(), |d| {
            format!("{:.2}×", d.as_secs_f64() / of)
        })
    };
    let lease = DEAD_AFTER_SECS as f64;
    println!(
        "| first resumed upstream call (by the other replica) | {} | {} | {} |",
        show(first),
        ratio(first, lease),
        ratio(first, bound)
    );
    println!(
        "| {n} upstream calls after the kill (≈ every checkout resumed) | {} | {} | {} |",
        show(all),
        ratio(all, lease),
        ratio(all, bound)
    );
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    super::results::write(
        "recovery",
        &serde_json::json!({
            "checkouts": n,
            "dead_after_secs": DEAD_AFTER_SECS,
            "heartbeat_secs": HEARTBEAT_SECS,
            "poll_wait_secs": POLL_WAIT_SECS,
            "first_resumed_call_secs": secs(first),
            "all_resumed_secs": secs(all),
            "timeline": timeline,
        }),
    )?;
    chart(&timeline)?;
    Ok(())
}

/// Upstream calls heard after the kill, over time: the step where the other replica took over.
fn chart(timeline: &[(f64, u64)]) -> anyhow::Result<()> {
    use super::charts::{self, GATEWAY, Panel, Series};
    // A step line: each count holds until the next one.
    let mut points = Vec::with_capacity(timeline.len() * 2 + 1);
    points.push((0.0, 0.0));
    for pair in timeline.windows(2) {
        let ((_, before), (at, after)) = (pair[0], pair[1]);
        points.push((at, before as f64));
        points.push((at, after as f64));
    }
    let panels = [Panel {
        title: "recovery after kill -9",
        x: "seconds after the kill",
        y: "upstream calls resumed",
        series: vec![Series {
            label: "calls by the surviving replica",
            color: GATEWAY,
            points,
        }],
        legend: plotters::chart::SeriesLabelPosition::UpperLeft,
    }];
    charts::draw("recovery", &panels)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The bench claims to run on the defaults: its bound must follow them.
    #[test]
    fn the_bound_uses_the_configured_defaults() {
        let base = include_str!("../../../config/base.toml");
        for line in [
            format!("heartbeat_secs = {}", super::HEARTBEAT_SECS),
            format!("dead_after_secs = {}", super::DEAD_AFTER_SECS),
        ] {
            assert!(base.lines().any(|l| l == line), "base.toml has no `{line}`");
        }
    }
}
