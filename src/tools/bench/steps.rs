//! `bench steps`: the database work behind each step of a purchase (create → reserved,
//! payment, purchase), counted from the statements the gateway sends: one `serve` process logs
//! every statement (`sqlx::query` at debug, JSON), the bench runs N of one step at a time and
//! splits the log at the step boundaries. Statements of this replica's background work
//! (heartbeats, readiness checks: the `replicas` and migrations tables, `SELECT 1`) are counted
//! apart, per second of an idle window measured in the same run, and left out of the steps.
//!
//! The minimum persist-then-call needs is one durable write before each upstream update and
//! one after its answer; everything above that is what part 2 of issue 18 cuts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Sizes;
use super::flow::{pay, purchase};
use super::harness::{Env, Stage, instant_upstream};

const STEPS: [&str; 3] = ["create → reserved", "payment", "purchase"];
const IDLE: Duration = Duration::from_secs(5);

/// What one step cost, per occurrence.
#[derive(serde::Serialize)]
struct StepWork {
    step: &'static str,
    /// Statements (each at least one round trip), per step.
    statements: f64,
    /// INSERT/UPDATE/DELETE statements per step.
    writes: f64,
    /// Explicit transactions (`BEGIN`) per step.
    transactions: f64,
    /// Statement kinds ("UPDATE checkouts", …) and how many per step.
    by_kind: BTreeMap<String, f64>,
}

pub async fn run(env: &Env, sizes: &Sizes) -> anyhow::Result<()> {
    let n = sizes.purchases.clamp(1, 50);
    let log = std::env::temp_dir().join(format!("bench-steps-{}.log", std::process::id()));
    let Stage {
        sandbox,
        database_url: _,
        replica,
    } = Stage::start_logged(
        env,
        instant_upstream(),
        &[
            ("APP__LOG__LEVEL", "warn,sqlx::query=debug"),
            ("APP__CHECKOUT__ABANDON_AFTER_SECS", "86400"),
        ],
        Some(&log),
    )
    .await?;
    let token = env.token("bench-steps")?;
    let base = replica.base.clone();
    // Warm-up outside the figures: event details, the certificate, connections.
    super::flow::gateway_purchase(env, &base, &token).await?;

    let idle_from = file_len(&log)?;
    let idle_started = Instant::now();
    tokio::time::sleep(IDLE).await;
    let idle = Counts::read(&log, idle_from, file_len(&log)?)?;
    let idle_secs = idle_started.elapsed().as_secs_f64();

    let mut ids = Vec::with_capacity(n);
    let mut counted = Vec::new();
    for step in 0..STEPS.len() {
        let from = file_len(&log)?;
        for i in 0..n {
            match step {
                0 => ids.push(env.create(&base, &token, 20).await?),
                1 => pay(env, &base, &token, &ids[i]).await?,
                _ => purchase(env, &base, &token, &ids[i]).await?,
            }
        }
        counted.push(Counts::read(&log, from, file_len(&log)?)?);
    }
    drop(replica);
    sandbox.stop().await;
    let _ = std::fs::remove_file(&log);

    let steps: Vec<StepWork> = STEPS
        .iter()
        .zip(&counted)
        .map(|(step, counts)| counts.per_step(step, n))
        .collect();
    print_table(&steps, n, &idle, idle_secs);
    super::results::write(
        "steps",
        &serde_json::json!({
            "purchases": n,
            "steps": steps,
            "background_per_sec": idle.background as f64 / idle_secs,
        }),
    )?;
    Ok(())
}

fn file_len(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

/// Statements logged between two offsets of the replica's log.
#[derive(Default)]
struct Counts {
    kinds: BTreeMap<String, u64>,
    background: u64,
}

impl Counts {
    fn read(log: &PathBuf, from: u64, to: u64) -> anyhow::Result<Self> {
        let bytes = std::fs::read(log)?;
        let end = usize::try_from(to)?.min(bytes.len());
        let start = usize::try_from(from)?.min(end);
        let mut counts = Self::default();
        for line in bytes[start..end].split(|b| *b == b'\n') {
            let Ok(entry) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            if entry["target"] != "sqlx::query" {
                continue;
            }
            // The JSON log puts an event's fields at the top level (or under `fields`).
            let fields = entry.get("fields").unwrap_or(&entry);
            // `BEGIN`/`COMMIT` come with an empty statement and only a summary.
            let statement = [&fields["db.statement"], &fields["summary"]]
                .into_iter()
                .filter_map(Value::as_str)
                .find(|s| !s.trim().is_empty())
                .unwrap_or_default();
            let kind = kind_of(statement);
            if is_background(&kind) {
                counts.background += 1;
            } else {
                *counts.kinds.entry(kind).or_default() += 1;
            }
        }
        Ok(counts)
    }

    fn per_step(&self, step: &'static str, n: usize) -> StepWork {
        let per = |count: u64| count as f64 / n as f64;
        let total = |pred: &dyn Fn(&str) -> bool| {
            per(self
                .kinds
                .iter()
                .filter(|(k, _)| pred(k))
                .map(|(_, c)| *c)
                .sum())
        };
        StepWork {
            step,
            statements: total(&|_| true),
            writes: total(&|k| {
                let k = k.strip_prefix("WITH ").unwrap_or(k);
                ["INSERT", "UPDATE", "DELETE"]
                    .iter()
                    .any(|w| k.starts_with(w))
            }),
            transactions: total(&|k| k.starts_with("BEGIN")),
            by_kind: self
                .kinds
                .iter()
                .map(|(k, c)| (k.clone(), per(*c)))
                .collect(),
        }
    }
}

/// "UPDATE checkouts", "SELECT checkouts", "INSERT upstream_quota_slots", "BEGIN", …
fn kind_of(statement: &str) -> String {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let Some(first) = words.first() else {
        return "?".into();
    };
    let verb = first.to_ascii_uppercase();
    if verb == "WITH" {
        return with_kind(&words);
    }
    let table = match verb.as_str() {
        "UPDATE" => words.get(1).copied(),
        "INSERT" => after(&words, "INTO"),
        "DELETE" | "SELECT" => after(&words, "FROM"),
        _ => None,
    };
    match table {
        Some(table) => format!("{verb} {table}"),
        None => verb,
    }
}

/// A word without the punctuation around it (`(UPDATE` → `UPDATE`, `orders,` → `orders`).
fn bare(word: &str) -> &str {
    word.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
}

/// The word after the first `keyword` of `words` (either case), without its punctuation.
fn after<'a>(words: &[&'a str], keyword: &str) -> Option<&'a str> {
    let at = words
        .iter()
        .position(|w| bare(w).eq_ignore_ascii_case(keyword))?;
    words.get(at + 1).map(|t| bare(t))
}

/// A `WITH` statement, named by what it writes, in order ("WITH UPDATE checkouts + INSERT
/// orders": a purchase recorded in one statement), or by what it reads when it writes nothing.
fn with_kind(words: &[&str]) -> String {
    let writes: Vec<String> = words
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let verb = bare(w).to_ascii_uppercase();
            let rest = &words[i + 1..];
            let table = match verb.as_str() {
                "UPDATE" => rest.first().map(|t| bare(t)),
                "INSERT" => after(rest, "INTO"),
                "DELETE" => after(rest, "FROM"),
                _ => None,
            }?;
            Some(format!("{verb} {table}"))
        })
        .collect();
    if writes.is_empty() {
        let read = words
            .iter()
            .rposition(|w| bare(w).eq_ignore_ascii_case("FROM"))
            .and_then(|i| words.get(i + 1));
        return read.map_or_else(|| "WITH".to_owned(), |t| format!("WITH {t}"));
    }
    format!("WITH {}", writes.join(" + "))
}

/// This replica's own clockwork, not any step's: heartbeats and reaping, readiness checks.
fn is_background(kind: &str) -> bool {
    kind.ends_with(" replicas") || kind.ends_with(" _sqlx_migrations") || kind == "SELECT"
}

fn print_table(steps: &[StepWork], n: usize, idle: &Counts, idle_secs: f64) {
    println!();
    println!("## Database work per step ({n} of each, one `serve` process, Postgres)");
    println!();
    println!("| step | statements (round trips) | writes | transactions | statements by kind |");
    println!("| --- | --- | --- | --- | --- |");
    for s in steps {
        let kinds: Vec<String> = s
            .by_kind
            .iter()
            .map(|(k, c)| format!("{k} {c:.1}"))
            .collect();
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {} |",
            s.step,
            s.statements,
            s.writes,
            s.transactions,
            kinds.join(", ")
        );
    }
    println!();
    println!(
        "Background (heartbeat, reaping, readiness), left out above: {:.1} statements per second over {:.0} s idle.",
        idle.background as f64 / idle_secs,
        idle_secs
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_named_by_verb_and_table() {
        let cases = [
            (
                "UPDATE checkouts SET a = $1 WHERE id = $2",
                "UPDATE checkouts",
            ),
            ("INSERT INTO orders (id) VALUES ($1)", "INSERT orders"),
            ("DELETE FROM replicas WHERE NOT alive", "DELETE replicas"),
            ("SELECT * FROM checkouts WHERE id = $1", "SELECT checkouts"),
            ("\n\nSELECT 1", "SELECT"),
            ("BEGIN", "BEGIN"),
            (
                "WITH written AS (UPDATE checkouts SET a = $1 RETURNING id) \
                 INSERT INTO orders (id) SELECT $2 FROM written",
                "WITH UPDATE checkouts + INSERT orders",
            ),
            ("WITH n AS (SELECT 1) SELECT * FROM n", "WITH n"),
        ];
        for (statement, kind) in cases {
            assert_eq!(kind_of(statement), kind, "{statement}");
        }
        assert!(is_background("UPDATE replicas"));
        assert!(is_background("SELECT"));
        assert!(!is_background("UPDATE checkouts"));
    }
}
