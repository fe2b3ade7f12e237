//! `bench fairness`: one user's whole purchases while another user floods the reads that
//! spend upstream quota. One `serve` process with `upstream.requests_per_second = 4.5` in
//! front of a sandbox enforcing the same 4.5 req/s; admission is out of the way (the
//! harness's limits), so only the upstream fair share (`upstream.max_waiting_per_user`,
//! turns within a lane) stands between the flooder and the quota.
//!
//! - Baseline: user B's purchases alone (event, captcha, create, payment, purchase, each with
//!   `Prefer: wait=20`), timed whole.
//! - Flood: user A on [`FLOOD_CONNECTIONS`] connections alternating event reads of unknown
//!   ids (never cached, each one an upstream call) and the captcha page, `Prefer: wait=5`,
//!   no back-off; B's purchases are timed again meanwhile.
//!
//! Printed: both medians and their ratio against the bound (≤ 2×), the sandbox's
//! quota 429s (must be 0), the flooder's answers by status, and the gateway's resident memory
//! before, during and after the flood.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Sizes;
use super::flow::{gateway_purchase, ms};
use super::harness::{Call, EVENT, Env, Replica, Stage, instant_upstream, percentile};
use crate::sandbox::SandboxConfig;

/// The upstream quota of the gateway and of the sandbox (req/s), low so that the flood could
/// take all of it many times over.
const QUOTA: f64 = 4.5;
const FLOOD_CONNECTIONS: usize = 32;
/// The flood's `Prefer: wait`: short, as an impatient app would ask.
const FLOOD_WAIT_SECS: u32 = 5;
/// B's `Prefer: wait` on every call of a purchase.
const PURCHASE_WAIT_SECS: u32 = 20;
/// The bound on B's flooded median over its median alone.
const BOUND: f64 = 2.0;
/// The flood runs this long before B's first timed purchase, so B meets it at full strength.
const FLOOD_WARM_UP: Duration = Duration::from_secs(3);
const RSS_EVERY: Duration = Duration::from_secs(2);
/// "Flat": no sample during the flood above this multiple of the flood's first sample.
const FLAT: f64 = 1.2;

/// What the flooder was answered: status code (or "transport error") → count.
type Answers = BTreeMap<String, u64>;

pub async fn run(env: &Env, sizes: &Sizes) -> anyhow::Result<()> {
    let n = sizes.fairness_purchases.max(1);
    let quota = QUOTA.to_string();
    let Stage {
        sandbox,
        database_url: _,
        replica,
    } = Stage::start(
        env,
        SandboxConfig {
            requests_per_second: Some(QUOTA),
            ..instant_upstream()
        },
        &[("APP__UPSTREAM__REQUESTS_PER_SECOND", quota.as_str())],
    )
    .await?;
    let (token_a, token_b) = (env.token("bench-flooder-a")?, env.token("bench-buyer-b")?);

    // Warm-up outside the figures: event details, certificate, captcha page, connections.
    whole_purchase(env, &replica.base, &token_b).await?;
    let alone = timed_purchases(env, &replica.base, &token_b, n).await?;

    let rss_before = replica.rss_bytes()?;
    let flood = Flood::start(env, &replica.base, &token_a);
    tokio::time::sleep(FLOOD_WARM_UP).await;
    let (flooded, rss_during) = purchases_sampling_rss(env, &replica, &token_b, n).await;
    let answers = flood.stop().await;
    let flooded = flooded?;
    tokio::time::sleep(RSS_EVERY).await;
    let rss_after = replica.rss_bytes()?;

    let stats = sandbox.stats();
    drop(replica);
    sandbox.stop().await;
    let report = Report {
        purchases: n,
        alone: &alone,
        flooded: &flooded,
        quota_429s: stats.quota_429s,
        max_per_second: stats.max_requests_in_any_second,
        upstream_requests: stats.requests,
        answers: &answers,
        rss: Rss {
            before: rss_before,
            during: &rss_during?,
            after: rss_after,
        },
    };
    print_report(&report);
    super::results::write("fairness", &report)?;
    Ok(())
}

/// One whole purchase as an app makes it: event details and the captcha page, then create,
/// payment and purchase ([`gateway_purchase`]); milliseconds from the first call to the last
/// answer.
async fn whole_purchase(env: &Env, base: &str, token: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let event_path = format!("/v1/events/{EVENT}");
    for path in [event_path.as_str(), "/v1/captcha"] {
        let (status, body) = env
            .call(Call {
                method: reqwest::Method::GET,
                base,
                path,
                token,
                wait: PURCHASE_WAIT_SECS,
                body: None,
            })
            .await?;
        anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
    }
    gateway_purchase(env, base, token).await?;
    Ok(ms(started))
}

async fn timed_purchases(env: &Env, base: &str, token: &str, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(whole_purchase(env, base, token).await?);
    }
    Ok(times)
}

/// B's timed purchases, with the replica's RSS sampled every [`RSS_EVERY`] meanwhile (the
/// first sample at once).
async fn purchases_sampling_rss(
    env: &Env,
    replica: &Replica,
    token: &str,
    n: usize,
) -> (anyhow::Result<Vec<f64>>, anyhow::Result<Vec<u64>>) {
    let purchases = timed_purchases(env, &replica.base, token, n);
    tokio::pin!(purchases);
    let mut tick = tokio::time::interval(RSS_EVERY);
    let mut samples = Vec::new();
    loop {
        tokio::select! {
            times = &mut purchases => return (times, Ok(samples)),
            _ = tick.tick() => match replica.rss_bytes() {
                Ok(rss) => samples.push(rss),
                Err(e) => return (purchases.await, Err(e)),
            },
        }
    }
}

/// User A's flood: [`FLOOD_CONNECTIONS`] tasks, each looping without back-off until stopped.
struct Flood {
    stop: Arc<AtomicBool>,
    tasks: tokio::task::JoinSet<Answers>,
}

impl Flood {
    fn start(env: &Env, base: &str, token: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..FLOOD_CONNECTIONS {
            let (client, base, token) = (env.client.clone(), base.to_owned(), token.to_owned());
            let stop = stop.clone();
            tasks.spawn(async move {
                let mut answers = Answers::new();
                let mut captcha = false;
                while !stop.load(Ordering::Relaxed) {
                    let path = if captcha {
                        "/v1/captcha".to_owned()
                    } else {
                        format!("/v1/events/{}", unknown_event_id())
                    };
                    captcha = !captcha;
                    let answer = flood_call(&client, &format!("{base}{path}"), &token).await;
                    *answers.entry(answer).or_default() += 1;
                }
                answers
            });
        }
        Self { stop, tasks }
    }

    /// Stop every task (each finishes the call it is in) and add up their answers.
    async fn stop(mut self) -> Answers {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Answers::new();
        while let Some(joined) = self.tasks.join_next().await {
            let answers = joined.unwrap_or_else(|e| Answers::from([(format!("task {e}"), 1)]));
            for (status, count) in answers {
                *total.entry(status).or_default() += count;
            }
        }
        total
    }
}

/// One flood call; its status, or "transport error". The body is read so the connection is
/// reused.
async fn flood_call(client: &reqwest::Client, url: &str, token: &str) -> String {
    let sent = client
        .get(url)
        .bearer_auth(token)
        .header("Prefer", format!("wait={FLOOD_WAIT_SECS}"))
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16().to_string();
            let _ = resp.bytes().await;
            status
        }
        Err(_) => "transport error".to_owned(),
    }
}

/// 16 random upper-case hex digits, like the Partner API's event ids: unknown upstream, and
/// new each time, so neither the event cache nor the unknown-id memory can answer it.
fn unknown_event_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(16);
    id.to_ascii_uppercase()
}

/// The gateway process's resident memory around the flood, bytes.
#[derive(serde::Serialize)]
struct Rss<'a> {
    before: u64,
    during: &'a [u64],
    after: u64,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    purchases: usize,
    alone: &'a [f64],
    flooded: &'a [f64],
    quota_429s: u64,
    max_per_second: u64,
    upstream_requests: u64,
    answers: &'a Answers,
    rss: Rss<'a>,
}

fn print_report(r: &Report<'_>) {
    let (alone, flooded) = (percentile(r.alone, 0.5), percentile(r.flooded, 0.5));
    let ratio = flooded / alone.max(1e-9);
    let verdict = if ratio <= BOUND { "within" } else { "OVER" };
    let mb = |b: u64| b as f64 / 1e6;
    let during_min = r.rss.during.iter().copied().min().unwrap_or_default();
    let during_max = r.rss.during.iter().copied().max().unwrap_or_default();
    let first = r.rss.during.first().copied().unwrap_or_default();
    let flat = during_max as f64 <= FLAT * first as f64;
    let answers = r
        .answers
        .iter()
        .map(|(status, count)| format!("{status} × {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    let list = |v: &[f64]| {
        v.iter()
            .map(|t| format!("{t:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!();
    println!(
        "## Fairness (user B's whole purchases, alone and while user A floods reads on {FLOOD_CONNECTIONS} connections; quota {QUOTA} req/s)"
    );
    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| B's purchase median alone (ms; {} purchases: {}) | {alone:.0} |",
        r.purchases,
        list(r.alone)
    );
    println!(
        "| B's purchase median flooded (ms; {}) | {flooded:.0} |",
        list(r.flooded)
    );
    println!("| ratio flooded / alone (bound ≤ {BOUND}×) | {ratio:.2}× ({verdict} the bound) |");
    println!("| sandbox quota 429s (must be 0) | {} |", r.quota_429s);
    println!(
        "| most upstream requests in any 1 s / all upstream requests | {} / {} |",
        r.max_per_second, r.upstream_requests
    );
    println!("| flooder's answers by status | {answers} |");
    println!(
        "| gateway RSS (MB): before / during min–max ({} samples, every {} s) / after | {:.1} / {:.1}–{:.1} / {:.1} |",
        r.rss.during.len(),
        RSS_EVERY.as_secs(),
        mb(r.rss.before),
        mb(during_min),
        mb(during_max),
        mb(r.rss.after)
    );
    println!(
        "| RSS flat during the flood (max ≤ {FLAT} × first sample, {:.1} MB) | {} |",
        mb(first),
        if flat { "yes" } else { "NO" }
    );
}
