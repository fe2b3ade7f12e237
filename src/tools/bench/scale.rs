//! Part 3, scale: checkouts in flight (the sandbox forces polling with a 10-minute wait, so
//! every checkout sits in `reserving`, mid-poll) on one `serve` process, at each size of
//! `Sizes::checkouts` in turn (the later sizes add to the earlier ones): the process's resident
//! memory, the Postgres database's rows and size, and the rows written per second while every
//! checkout waits out its poll (what keeping them leased costs: with replica liveness, one
//! heartbeat a second whatever the number in flight), against the same figures with none in
//! flight (the baseline, same process). Default settings otherwise.

use std::time::{Duration, Instant};

use futures::StreamExt;
use sqlx::PgPool;

use super::Sizes;
use super::harness::Stage;
use super::harness::{Env, Replica, Ticker};
use crate::sandbox::SandboxConfig;

/// How many creates are in flight at once, and how many users share them.
const CONCURRENCY: usize = 64;
const USERS: usize = 100;

/// One measurement.
#[derive(serde::Serialize)]
struct Point {
    checkouts: usize,
    reserving: i64,
    rss: u64,
    rows: i64,
    checkout_rows: i64,
    db_bytes: i64,
    upstream_requests: u64,
    /// From the first create to every checkout waiting out its poll.
    create_secs: f64,
    /// Creates answered 503 (the database pool busy past its acquire timeout) and sent again
    /// a second later, as a partner honouring `Retry-After` would.
    busy_answers: u32,
    /// Rows inserted, updated or deleted per second over [`WRITES_WINDOW`] while nothing but
    /// keeping the checkouts in flight happens.
    writes_per_sec: f64,
    /// The same per table (those written at all): `checkouts` holds every lease write,
    /// `replicas` the heartbeat.
    writes_by_table: std::collections::BTreeMap<String, f64>,
    /// Upstream requests during that window: 0 when it was idle, as it should be.
    upstream_in_window: u64,
}

/// Long enough for a steady rate to show.
const WRITES_WINDOW: Duration = Duration::from_secs(30);

/// Postgres' statistics arrive late: a connection flushes its counts at most once a second,
/// and an idle one within 10 s. The window starts after that, so the writes of the creates
/// before it are not counted in it.
const STATS_LAG: Duration = Duration::from_secs(11);

pub async fn run(env: &Env, sizes: &Sizes) -> anyhow::Result<()> {
    let Stage {
        sandbox,
        database_url,
        replica,
    } = Stage::start(
        env,
        SandboxConfig {
            force_polling: true,
            poll_wait_secs: 600.0,
            poll_rounds: 1000,
            hold_secs: 3600,
            update_latency: Duration::ZERO,
            ..SandboxConfig::default()
        },
        // Nothing is abandoned during the measurement; leases are as by default.
        &[("APP__CHECKOUT__ABANDON_AFTER_SECS", "86400")],
    )
    .await?;
    let pool = PgPool::connect(&database_url).await?;
    let tokens: Vec<String> = (0..USERS)
        .map(|u| env.token(&format!("bench-scale-{u}")))
        .collect::<anyhow::Result<_>>()?;
    let mut points = vec![measure(&replica, &pool, &sandbox, 0, 0.0).await?];
    println!("(measured with none in flight; creating…)");
    let mut created = 0;
    for &target in &sizes.checkouts {
        let started = Instant::now();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(created));
        let ticker = {
            let done = done.clone();
            Ticker::start(Duration::from_secs(10), move || {
                let done = done.load(std::sync::atomic::Ordering::Relaxed);
                format!("{done} of {target} checkouts created")
            })
        };
        let results: Vec<anyhow::Result<u32>> = futures::stream::iter(created..target)
            .map(|i| {
                let (done, base, token) = (done.clone(), &replica.base, &tokens[i % USERS]);
                async move {
                    let result = create_retrying(env, base, token).await;
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    result
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        drop(ticker);
        let failed = results.iter().filter(|r| r.is_err()).count();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            anyhow::bail!("{failed} creates failed, e.g. {e}");
        }
        let refused: u32 = results.iter().filter_map(|r| r.as_ref().ok()).sum();
        created = target;
        settle(&pool, created).await?;
        let secs = started.elapsed().as_secs_f64();
        let mut point = measure(&replica, &pool, &sandbox, created, secs).await?;
        point.busy_answers = refused;
        points.push(point);
    }
    pool.close().await;
    drop(replica);
    sandbox.stop().await;
    print_table(&points);
    super::results::write("scale", &serde_json::json!({ "points": points }))?;
    chart(&points)?;
    Ok(())
}

/// RSS and table size against checkouts in flight (linear growth is a straight line).
fn chart(points: &[Point]) -> anyhow::Result<()> {
    use super::charts::{self, BASELINE, GATEWAY, Panel, Series};
    let line = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.checkouts as f64, f(p))).collect()
    };
    let panels = [
        Panel {
            title: "gateway resident memory",
            x: "checkouts in flight",
            y: "MB",
            series: vec![Series {
                label: "RSS",
                color: GATEWAY,
                points: line(&|p| p.rss as f64 / 1e6),
            }],
            legend: plotters::chart::SeriesLabelPosition::UpperLeft,
        },
        Panel {
            title: "Postgres tables",
            x: "checkouts in flight",
            y: "MB",
            series: vec![Series {
                label: "table size",
                color: BASELINE,
                points: line(&|p| p.db_bytes as f64 / 1e6),
            }],
            legend: plotters::chart::SeriesLabelPosition::UpperLeft,
        },
        Panel {
            title: "rows written per second, waiting in flight",
            x: "checkouts in flight",
            y: "rows / s",
            series: vec![Series {
                label: "all rows written",
                color: GATEWAY,
                points: line(&|p| p.writes_per_sec),
            }],
            legend: plotters::chart::SeriesLabelPosition::UpperLeft,
        },
    ];
    charts::draw("scale", &panels)?;
    Ok(())
}

/// Wait until every checkout has opened its cart, asked for its reservation upstream and
/// stored the reservation's poll (a 10-minute one), as the database says (10 minutes at most).
/// Upstream's silence is no sign: the first checkouts created poll again a minute later (the
/// gateway caps `wait` at 60 s), while a long burst is still being created.
async fn settle(pool: &PgPool, checkouts: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM checkouts WHERE state = 'reserving' AND cart_id IS NOT NULL \
             AND polling_url IS NOT NULL",
        )
        .fetch_one(pool)
        .await?;
        if waiting as usize >= checkouts || Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn measure(
    replica: &Replica,
    pool: &PgPool,
    sandbox: &crate::sandbox::SandboxHandle,
    checkouts: usize,
    create_secs: f64,
) -> anyhow::Result<Point> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await?;
    let mut rows = 0;
    // The quota's ring of send slots is sized by the quota, not by the checkouts.
    for table in tables.iter().filter(|t| !t.starts_with("upstream_quota")) {
        // Names from the catalog, quoted: safe to format into the statement.
        let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
        rows += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await?;
    }
    let checkout_rows = sqlx::query_scalar("SELECT count(*) FROM checkouts")
        .fetch_one(pool)
        .await?;
    let reserving = sqlx::query_scalar("SELECT count(*) FROM checkouts WHERE state = 'reserving'")
        .fetch_one(pool)
        .await?;
    let window = writes_per_second(pool, sandbox).await?;
    let db_bytes = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE 'upstream_quota%'",
    )
    .fetch_one(pool)
    .await?;
    Ok(Point {
        checkouts,
        reserving,
        rss: replica.rss_bytes()?,
        rows,
        checkout_rows,
        db_bytes,
        upstream_requests: sandbox.stats().requests,
        create_secs,
        writes_per_sec: window.by_table.values().sum(),
        writes_by_table: window.by_table,
        upstream_in_window: window.upstream_requests,
        busy_answers: 0,
    })
}

/// A create, sent again after a second while the gateway answers 503 (busy: its database pool
/// could not serve it in time; nothing was written); how many 503s it met.
async fn create_retrying(env: &Env, base: &str, token: &str) -> anyhow::Result<u32> {
    let mut busy = 0;
    loop {
        match env.create(base, token, 0).await {
            Ok(_) => return Ok(busy),
            Err(e) if busy < 60 && e.to_string().starts_with("create: 503") => {
                busy += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What was written over [`WRITES_WINDOW`].
struct WritesWindow {
    /// Rows per second, per table written at all.
    by_table: std::collections::BTreeMap<String, f64>,
    upstream_requests: u64,
}

/// Rows written per second in this database over [`WRITES_WINDOW`], per table, from
/// Postgres' own per-table counters; and the upstream requests in the same window.
async fn writes_per_second(
    pool: &PgPool,
    sandbox: &crate::sandbox::SandboxHandle,
) -> anyhow::Result<WritesWindow> {
    let written = async || -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::bigint \
             FROM pg_stat_user_tables",
        )
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().collect())
    };
    tokio::time::sleep(STATS_LAG).await;
    let (before, requests_before) = (written().await?, sandbox.stats().requests);
    tokio::time::sleep(WRITES_WINDOW).await;
    let (after, requests_after) = (written().await?, sandbox.stats().requests);
    let by_table = after
        .into_iter()
        .filter_map(|(table, rows)| {
            let delta = rows - before.get(&table).copied().unwrap_or(0);
            (delta > 0).then(|| (table, delta as f64 / WRITES_WINDOW.as_secs_f64()))
        })
        .collect();
    Ok(WritesWindow {
        by_table,
        upstream_requests: requests_after - requests_before,
    })
}

/// `checkouts 0.1, replicas 1.0`, or `none`.
fn by_table(writes: &std::collections::BTreeMap<String, f64>) -> String {
    if writes.is_empty() {
        return "none".to_owned();
    }
    writes
        .iter()
        .map(|(table, rate)| format!("{table} {rate:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_table(points: &[Point]) {
    let Some(idle) = points.first() else { return };
    println!();
    println!("## Scale (checkouts in flight, mid-poll, on one `serve` process, Postgres)");
    println!();
    println!(
        "| checkouts in flight (of them `reserving`) | gateway RSS (MB) | RSS per checkout over idle (KB) | rows (of them checkouts) | table size (MB) | bytes per checkout over empty | upstream requests | all in flight after (s) | rows written per second, waiting in flight (by table) | upstream requests in that window | creates answered 503 and sent again |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for p in points {
        let per = |now: f64, base: f64| {
            if p.checkouts == 0 {
                "—".to_owned()
            } else {
                format!("{:.1}", (now - base) / p.checkouts as f64)
            }
        };
        println!(
            "| {} ({}) | {:.1} | {} | {} ({}) | {:.1} | {} | {} | {:.1} | {:.1} ({}) | {} | {} |",
            p.checkouts,
            p.reserving,
            p.rss as f64 / 1e6,
            per(p.rss as f64 / 1024.0, idle.rss as f64 / 1024.0),
            p.rows,
            p.checkout_rows,
            p.db_bytes as f64 / 1e6,
            per(p.db_bytes as f64, idle.db_bytes as f64),
            p.upstream_requests,
            p.create_secs,
            p.writes_per_sec,
            by_table(&p.writes_by_table),
            p.upstream_in_window,
            p.busy_answers
        );
    }
    if let (Some(first), Some(last)) = (points.get(1), points.last())
        && last.checkouts > first.checkouts
    {
        println!();
        println!(
            "From {} to {} checkouts ({:.0}×): RSS grew {:.2}×, table size {:.2}× (tables without the quota's fixed ring of send slots).",
            first.checkouts,
            last.checkouts,
            last.checkouts as f64 / first.checkouts as f64,
            last.rss as f64 / first.rss as f64,
            last.db_bytes as f64 / first.db_bytes as f64
        );
    }
}
