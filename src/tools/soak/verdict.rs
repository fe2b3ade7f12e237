//! The end of a soak: wait until the database says every checkout is final, then hold the run
//! to what a payments-grade gateway promises, from evidence the gateway did not write itself
//! where there is any — the sandbox's orders, holds and counters, a `pg_dump` of the database,
//! the replicas' log files — and print each check with its figure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::chaos::ChaosReport;
use super::users::{DECLINED_CARD, Tally};
use crate::sandbox::SandboxHandle;
use crate::tools::bench::harness::CARD;

/// Waits (at most `limit`) until no checkout is pending or holding seats, and no
/// `purchase_unconfirmed` one has an order upstream still to find; how long it took.
pub async fn settle(
    database_url: &str,
    sandbox: &SandboxHandle,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let pool = PgPool::connect(database_url).await?;
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM checkouts \
             WHERE state NOT IN ('purchased', 'released', 'expired', 'failed', \
                                 'purchase_unconfirmed')",
        )
        .fetch_one(&pool)
        .await?;
        let unconfirmed: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT cart_id FROM checkouts WHERE state = 'purchase_unconfirmed'",
        )
        .fetch_all(&pool)
        .await?;
        let orders = sandbox.orders_by_cart();
        let to_find = unconfirmed
            .iter()
            .flatten()
            .filter(|cart| orders.contains_key(*cart))
            .count();
        if (open == 0 && to_find == 0) || started.elapsed() >= limit {
            pool.close().await;
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What the verdict reads.
pub struct Evidence<'a> {
    pub database_url: &'a str,
    pub sandbox: &'a SandboxHandle,
    pub logs: &'a Path,
    pub tally: &'a Tally,
    pub chaos: &'a ChaosReport,
    pub settled_in: Duration,
    /// Replicas that exited without being killed (after an outage, say).
    pub exited_on_their_own: u64,
}

/// One printed line: a figure, and whether it passes (`None`: for information).
struct Row {
    name: String,
    value: String,
    pass: Option<bool>,
}

pub struct Verdict {
    rows: Vec<Row>,
}

impl Verdict {
    fn info(&mut self, name: impl Into<String>, value: impl ToString) {
        self.rows.push(Row {
            name: name.into(),
            value: value.to_string(),
            pass: None,
        });
    }

    fn check(&mut self, name: impl Into<String>, value: impl ToString, pass: bool) {
        self.rows.push(Row {
            name: name.into(),
            value: value.to_string(),
            pass: Some(pass),
        });
    }

    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.pass != Some(false))
    }

    pub fn print(&self) {
        println!();
        println!("| soak | figure | check |");
        println!("| --- | --- | --- |");
        for row in &self.rows {
            let mark = match row.pass {
                Some(true) => "pass",
                Some(false) => "**FAIL**",
                None => "",
            };
            println!("| {} | {} | {mark} |", row.name, row.value);
        }
        println!();
        println!("soak: {}", if self.passed() { "PASSED" } else { "FAILED" });
    }
}

pub async fn judge(evidence: Evidence<'_>) -> anyhow::Result<Verdict> {
    let mut v = Verdict { rows: Vec::new() };
    let tally = evidence.tally;
    let chaos = evidence.chaos;
    v.info("user journeys", tally.journeys);
    v.info("answers seen by users", tally.answers.values().sum::<u64>());
    v.info("calls re-sent after a broken connection", tally.reconnects);
    v.info("calls users gave up on", tally.gave_up);
    for (answer, n) in &tally.answers {
        v.info(format!("answers `{answer}`"), n);
    }
    v.info("replicas killed (kill -9) and restarted", chaos.kills);
    v.info("faults planned", describe(&chaos.faults_planned));
    let stats = evidence.sandbox.stats();
    v.info("faults hit upstream calls", describe(&stats.faults_by_kind));
    v.info("upstream requests", stats.requests);
    v.info(
        "settled after the chaos in",
        format!("{:.1} s", evidence.settled_in.as_secs_f64()),
    );
    for outage in &chaos.outages {
        v.check(
            format!("replicas not ready after the {} outage", outage.what),
            format!(
                "{} (at {:.0} s for {:.0} s; all ready {:.1} s after)",
                outage.not_recovered,
                outage.began_at.as_secs_f64(),
                outage.lasted.as_secs_f64(),
                outage.recovered_in.as_secs_f64()
            ),
            outage.not_recovered == 0,
        );
    }
    v.check(
        "replicas that exited on their own",
        evidence.exited_on_their_own,
        evidence.exited_on_their_own == 0,
    );

    let db = PgPool::connect(evidence.database_url).await?;
    let by_state: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM checkouts GROUP BY state ORDER BY state")
            .fetch_all(&db)
            .await?;
    let total: i64 = by_state.iter().map(|(_, n)| n).sum();
    let count = |state: &str| {
        by_state
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    v.info("checkouts", total);
    v.info(
        "checkouts by state",
        by_state
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    // `purchase_unconfirmed` is settled too when upstream holds no order for it (checked
    // below: an order upstream must belong to a `purchased` checkout).
    let settled: i64 = [
        "purchased",
        "released",
        "expired",
        "failed",
        "purchase_unconfirmed",
    ]
    .iter()
    .map(|s| count(s))
    .sum();
    let open = total - settled;
    v.check("checkouts still pending", open, open == 0);
    v.check(
        "seats still held upstream",
        stats.seats_held,
        stats.seats_held == 0,
    );
    for (cart, seats) in evidence.sandbox.held_seats_by_cart().iter().take(10) {
        let row = checkout_of_cart(&db, cart).await?;
        v.info(
            "cart still holding seats",
            format!("cart {cart}, {seats} seats, checkout {row:?}"),
        );
    }

    let purchased: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT c.cart_id, o.order_token FROM checkouts c LEFT JOIN orders o \
         ON o.checkout_id = c.id WHERE c.state = 'purchased'",
    )
    .fetch_all(&db)
    .await?;
    let ours: BTreeSet<(String, String)> = purchased
        .iter()
        .filter_map(|(cart, token)| Some((cart.clone()?, token.clone()?)))
        .collect();
    let theirs_by_cart = evidence.sandbox.orders_by_cart();
    let theirs: BTreeSet<(String, String)> = theirs_by_cart
        .iter()
        .flat_map(|(cart, tokens)| tokens.iter().map(move |t| (cart.clone(), t.clone())))
        .collect();
    v.check(
        "orders upstream = purchased checkouts, one to one",
        format!("{} = {}", theirs.len(), purchased.len()),
        ours == theirs && ours.len() == purchased.len(),
    );
    let unmatched: Vec<_> = ours.symmetric_difference(&theirs).take(10).collect();
    for (cart, token) in unmatched {
        let side = if theirs.contains(&(cart.clone(), token.clone())) {
            "upstream only"
        } else {
            "gateway only"
        };
        let row = checkout_of_cart(&db, cart).await?;
        v.info(
            format!("unmatched order ({side})"),
            format!("cart {cart}, order {token}, checkout {row:?}"),
        );
    }
    let mut orders_not_purchased = 0;
    let mut said_nothing_charged = 0;
    for cart in theirs_by_cart.keys() {
        let row = checkout_of_cart(&db, cart).await?;
        let (state, failure) = row
            .as_ref()
            .map(|(_, state, failure)| (state.as_str(), failure.as_deref().unwrap_or("")))
            .unwrap_or(("none", ""));
        if state != "purchased" {
            orders_not_purchased += 1;
            v.info(
                "order upstream, checkout not purchased",
                format!("cart {cart}, checkout {row:?}"),
            );
        }
        if failure.contains("nothing was charged") {
            said_nothing_charged += 1;
        }
    }
    v.check(
        "orders upstream whose checkout is not purchased",
        orders_not_purchased,
        orders_not_purchased == 0,
    );
    v.check(
        "checkouts saying \"nothing was charged\" while an order exists",
        said_nothing_charged,
        said_nothing_charged == 0,
    );
    v.info(
        "purchase_unconfirmed with no order upstream (honestly unknown to the gateway)",
        count("purchase_unconfirmed"),
    );
    let carts_with_two_orders = theirs_by_cart.values().filter(|t| t.len() > 1).count();
    let carts_purchased_twice = stats
        .purchase_calls_by_cart
        .values()
        .filter(|n| **n > 1)
        .count();
    v.check(
        "duplicate purchases (carts with 2+ purchase calls or orders)",
        carts_purchased_twice + carts_with_two_orders,
        carts_purchased_twice + carts_with_two_orders == 0,
    );
    v.check(
        "concurrent updates of one cart",
        stats.concurrent_update_violations,
        stats.concurrent_update_violations == 0,
    );
    v.check(
        "429s from upstream's own quota",
        stats.quota_429s,
        stats.quota_429s == 0,
    );

    let states: BTreeMap<String, String> = sqlx::query_as("SELECT id, state FROM checkouts")
        .fetch_all(&db)
        .await?
        .into_iter()
        .collect();
    db.close().await;
    let lost = tally
        .last_seen
        .iter()
        .filter(|(id, seen)| match states.get(*id) {
            None => true,
            Some(now) => seen.as_str() == "purchased" && now != "purchased",
        })
        .count();
    v.check(
        "checkouts users were given but the database lost (or unpurchased)",
        lost,
        lost == 0,
    );
    let internal = tally.with_status(500);
    v.check("gateway 500 answers", internal, internal == 0);

    let dump = pg_dump(evidence.database_url)?;
    let in_dump = card_occurrences(&dump);
    v.check(
        "card numbers in the database (pg_dump)",
        format!("{in_dump} in {} KB", dump.len() / 1024),
        in_dump == 0,
    );
    let (lines, in_logs) = scan_logs(evidence.logs)?;
    v.check(
        "card numbers in the replicas' logs",
        format!("{in_logs} in {lines} lines"),
        in_logs == 0,
    );
    Ok(v)
}

/// The checkout that opened `cart`: id, state and failure.
async fn checkout_of_cart(
    db: &PgPool,
    cart: &str,
) -> anyhow::Result<Option<(String, String, Option<String>)>> {
    Ok(
        sqlx::query_as("SELECT id, state, failure FROM checkouts WHERE cart_id = $1")
            .bind(cart)
            .fetch_optional(db)
            .await?,
    )
}

fn describe<K: std::fmt::Display>(counts: &BTreeMap<K, u64>) -> String {
    let total: u64 = counts.values().sum();
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("{total} ({})", parts.join(", "))
}

fn pg_dump(database_url: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("pg_dump")
        .arg(database_url)
        .output()
        .map_err(|e| anyhow::anyhow!("running pg_dump: {e}"))?;
    anyhow::ensure!(out.status.success(), "pg_dump failed: {out:?}");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Occurrences of either card the users sent.
fn card_occurrences(text: &str) -> usize {
    [CARD, DECLINED_CARD]
        .iter()
        .map(|card| text.matches(card).count())
        .sum()
}

/// Lines in the replicas' log files, and card numbers among them.
fn scan_logs(dir: &Path) -> anyhow::Result<(usize, usize)> {
    let (mut lines, mut cards) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        lines += text.lines().count();
        cards += card_occurrences(&text);
    }
    Ok((lines, cards))
}
