//! Part 2, flow cost: per step of a purchase (create → reserved, payment, purchase), the time
//! a client waits on the gateway against the time upstream itself takes for that step's calls
//! (the baseline: the same Partner-API calls made directly, in the same run, against the same
//! sandbox with zero latency and zero polling wait), and against the floor: those calls with
//! the durable writes persist-then-call cannot do without ([`FLOOR_COMMITS`]), made by the
//! bench on a connection of its own to the same Postgres, and against those calls and writes
//! behind one HTTP hop ([`BareGateway`]: the least any gateway built this way adds here).
//! Then RSA PKCS#1 v1.5 card-field encryptions per second on one core against `openssl speed
//! rsa2048`'s public-key rate, measured here and now.

use std::process::Command;
use std::time::{Duration, Instant};

use super::Sizes;
use super::floor::{BareGateway, FLOOR_COMMITS, Journal, Upstream, direct_purchase};
use super::harness::{CARD, Call, Env, payment_body, percentile};
use super::harness::{Stage, instant_upstream};
use crate::payment_crypto::PaymentEncryptor;
use crate::upstream::wire;

const STEPS: [&str; 3] = ["create → reserved", "payment", "purchase"];

/// The zero-latency sandbox with rows long enough for four purchases a round (the gateway's,
/// upstream alone, the floor, the bare gateway) over a long run; the fixed layouts sell out. Its certificate
/// holds an RSA-2048 key, as one made today would (the docs' example is 1024 bits): the
/// encryption rate below is compared with `openssl speed rsa2048`.
fn upstream_with_seats() -> crate::sandbox::SandboxConfig {
    use crate::sandbox::{Dialect, dialect::CertificateKey};
    crate::sandbox::SandboxConfig {
        seats_per_row: Some(1000),
        dialect: Dialect {
            certificate_key: CertificateKey::Rsa2048,
            ..Dialect::default()
        },
        ..instant_upstream()
    }
}

/// Milliseconds per step, one entry per purchase.
#[derive(Default)]
struct StepTimes([Vec<f64>; 3]);

pub async fn run(env: &Env, sizes: &Sizes) -> anyhow::Result<()> {
    let Stage {
        sandbox,
        database_url,
        replica,
    } = Stage::start(env, upstream_with_seats(), &[]).await?;
    let base = sandbox.base_url();
    let upstream = Upstream {
        client: &env.client,
        base: &base,
    };
    let token = env.token("bench-flow")?;
    let mut journal = Journal::open(&database_url).await?;
    let bare = BareGateway::start(env.client.clone(), &base, &database_url).await?;
    // The bare gateway's purchases are journalled apart from the floor's.
    let bare_id = |i: i64| i + 1_000_000_000;
    let purchases = i64::try_from(sizes.purchases)?;
    // Warm-up (event details, certificate, connections) outside the figures, journalled
    // under the id after the last measured purchase's.
    gateway_purchase(env, &replica.base, &token).await?;
    direct_purchase(&upstream, purchases, &mut journal).await?;
    bare.purchase(&env.client, bare_id(purchases)).await?;
    let mut times = Runs::default();
    let mut certificate = None;
    for i in 0..purchases {
        let gateway = gateway_purchase(env, &replica.base, &token).await?;
        let (direct, cert) = direct_purchase(&upstream, i, &mut Journal::None).await?;
        let (floor, _) = direct_purchase(&upstream, i, &mut journal).await?;
        let bare = bare.purchase(&env.client, bare_id(i)).await?;
        for step in 0..3 {
            times.gateway.0[step].push(gateway[step]);
            times.direct.0[step].push(direct[step]);
            times.floor.0[step].push(floor[step]);
            times.bare.0[step].push(bare[step]);
        }
        certificate = Some(cert);
    }
    drop(bare);
    drop(replica);
    sandbox.stop().await;
    println!();
    println!(
        "## Flow cost ({} sequential purchases, sandbox with zero latency and zero wait)",
        sizes.purchases
    );
    println!();
    println!(
        "| step | gateway p50 / p99 (ms) | upstream alone p50 / p99 (ms) | added by the gateway p50 / p99 (ms) | the floor, upstream with the commits it needs: p50 / p99 (ms) | added by the floor p50 (ms) | gateway over the floor p50 (ms) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let figures = FlowFigures::of(&times);
    for s in &figures.steps {
        println!(
            "| {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} ({} commits) | {:.2} | {:.2} |",
            s.step,
            s.gateway_p50_ms,
            s.gateway_p99_ms,
            s.upstream_p50_ms,
            s.upstream_p99_ms,
            s.gateway_p50_ms - s.upstream_p50_ms,
            s.gateway_p99_ms - s.upstream_p99_ms,
            s.floor_p50_ms,
            s.floor_p99_ms,
            s.floor_commits,
            s.floor_p50_ms - s.upstream_p50_ms,
            s.gateway_p50_ms - s.floor_p50_ms,
        );
    }
    println!();
    println!(
        "| step | bare gateway, the floor behind one HTTP hop: p50 / p99 (ms) | added by the bare gateway p50 / p99 (ms) | the gateway over the bare one p50 (ms) |"
    );
    println!("| --- | --- | --- | --- |");
    for s in &figures.steps {
        println!(
            "| {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} |",
            s.step,
            s.bare_p50_ms,
            s.bare_p99_ms,
            s.bare_p50_ms - s.upstream_p50_ms,
            s.bare_p99_ms - s.upstream_p99_ms,
            s.gateway_p50_ms - s.bare_p50_ms,
        );
    }
    super::results::write("flow", &figures)?;
    figures.chart()?;
    if let Some(cert) = certificate {
        rsa_rate(&cert).await?;
    }
    Ok(())
}

/// Each way of making a purchase's calls, timed per step.
#[derive(Default)]
struct Runs {
    gateway: StepTimes,
    direct: StepTimes,
    floor: StepTimes,
    bare: StepTimes,
}

/// Per step: p50 and p99, and every sample in milliseconds (the gateway, upstream alone, the
/// floor and the bare gateway), so the distributions can be charted from the JSON results.
#[derive(serde::Serialize)]
struct FlowFigures {
    steps: Vec<StepFigures>,
}

#[derive(serde::Serialize)]
struct StepFigures {
    step: &'static str,
    gateway_p50_ms: f64,
    gateway_p99_ms: f64,
    upstream_p50_ms: f64,
    upstream_p99_ms: f64,
    /// Upstream's calls with the durable writes persist-then-call cannot do without.
    floor_p50_ms: f64,
    floor_p99_ms: f64,
    floor_commits: usize,
    /// The floor's calls and writes made by a bare gateway behind one HTTP hop.
    bare_p50_ms: f64,
    bare_p99_ms: f64,
    gateway_ms: Vec<f64>,
    upstream_ms: Vec<f64>,
    floor_ms: Vec<f64>,
    bare_ms: Vec<f64>,
}

impl FlowFigures {
    /// Each step's latency distribution: the gateway's, upstream alone, the floor, and the
    /// bare gateway.
    fn chart(&self) -> anyhow::Result<()> {
        use super::charts::{self, BARE, BASELINE, FLOOR, GATEWAY, Panel, Series};
        use super::charts::{cdf_limit, cdf_within};
        let panels: Vec<Panel<'_>> = self
            .steps
            .iter()
            .map(|s| {
                (
                    s,
                    cdf_limit(&[&s.gateway_ms, &s.upstream_ms, &s.floor_ms, &s.bare_ms]),
                )
            })
            .map(|(s, limit)| Panel {
                title: s.step,
                x: "milliseconds (slower ones drawn at the right edge)",
                y: "% of purchases at or below",
                series: vec![
                    Series {
                        label: "through the gateway",
                        color: GATEWAY,
                        points: cdf_within(&s.gateway_ms, limit),
                    },
                    Series {
                        label: "upstream alone",
                        color: BASELINE,
                        points: cdf_within(&s.upstream_ms, limit),
                    },
                    Series {
                        label: "upstream with persist-then-call's commits",
                        color: FLOOR,
                        points: cdf_within(&s.floor_ms, limit),
                    },
                    Series {
                        label: "those behind one HTTP hop (a bare gateway)",
                        color: BARE,
                        points: cdf_within(&s.bare_ms, limit),
                    },
                ],
                legend: plotters::chart::SeriesLabelPosition::LowerRight,
            })
            .collect();
        charts::draw("flow", &panels)?;
        Ok(())
    }

    fn of(runs: &Runs) -> Self {
        let steps = STEPS
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let (g, d) = (&runs.gateway.0[i], &runs.direct.0[i]);
                let (f, b) = (&runs.floor.0[i], &runs.bare.0[i]);
                StepFigures {
                    step,
                    gateway_p50_ms: percentile(g, 0.5),
                    gateway_p99_ms: percentile(g, 0.99),
                    upstream_p50_ms: percentile(d, 0.5),
                    upstream_p99_ms: percentile(d, 0.99),
                    floor_p50_ms: percentile(f, 0.5),
                    floor_p99_ms: percentile(f, 0.99),
                    floor_commits: FLOOR_COMMITS[i],
                    bare_p50_ms: percentile(b, 0.5),
                    bare_p99_ms: percentile(b, 0.99),
                    gateway_ms: g.clone(),
                    upstream_ms: d.clone(),
                    floor_ms: f.clone(),
                    bare_ms: b.clone(),
                }
            })
            .collect();
        Self { steps }
    }
}

/// One purchase through the gateway: milliseconds per step as the client waits for it.
pub(super) async fn gateway_purchase(
    env: &Env,
    base: &str,
    token: &str,
) -> anyhow::Result<[f64; 3]> {
    let started = Instant::now();
    let id = env.create(base, token, 20).await?;
    let created = ms(started);
    let started = Instant::now();
    pay(env, base, token, &id).await?;
    let paid = ms(started);
    let started = Instant::now();
    purchase(env, base, token, &id).await?;
    Ok([created, paid, ms(started)])
}

/// The payment step through the gateway, waiting until it settles (`payment_accepted`).
pub(super) async fn pay(env: &Env, base: &str, token: &str, id: &str) -> anyhow::Result<()> {
    let payment_path = format!("/v1/checkouts/{id}/payment");
    let (status, body) = env
        .call(Call {
            method: reqwest::Method::PUT,
            base,
            path: &payment_path,
            token,
            wait: 20,
            body: Some(payment_body()),
        })
        .await?;
    anyhow::ensure!(status == 200, "payment: {status} {body}");
    Ok(())
}

/// The purchase step through the gateway, waiting until it is `purchased`.
pub(super) async fn purchase(env: &Env, base: &str, token: &str, id: &str) -> anyhow::Result<()> {
    let purchase_path = format!("/v1/checkouts/{id}/purchase");
    let (status, body) = env
        .call(Call {
            method: reqwest::Method::POST,
            base,
            path: &purchase_path,
            token,
            wait: 20,
            body: None,
        })
        .await?;
    anyhow::ensure!(body["state"] == "purchased", "purchase: {status} {body}");
    Ok(())
}

pub(super) fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Card-field encryptions per second on one core, and openssl's public-key rate.
async fn rsa_rate(cert: &wire::Certificate) -> anyhow::Result<()> {
    let encryptor = PaymentEncryptor::from_certificate(cert)?;
    let ours = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(3) {
            encryptor.encrypt(CARD)?;
            n += 1;
        }
        Ok(n as f64 / started.elapsed().as_secs_f64())
    })
    .await??;
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()?;
    let (column, openssl) = parse_openssl_speed(&String::from_utf8_lossy(&output.stdout))?;
    println!();
    println!(
        "| RSA-2048 public-key operations per second, one core | gateway (`PaymentEncryptor`, PKCS#1 v1.5) | `openssl speed rsa2048` ({column}) | ratio |"
    );
    println!("| --- | --- | --- | --- |");
    println!(
        "| | {ours:.0} | {openssl:.0} | {:.0} % |",
        100.0 * ours / openssl.max(1e-9)
    );
    Ok(())
}

/// The public-key rate of `openssl speed rsa2048`: `encr./s` when this openssl reports it
/// (3.2+), else `verify/s` (the same public-exponent operation). Returns (column, rate).
pub fn parse_openssl_speed(report: &str) -> anyhow::Result<(String, f64)> {
    let header: Vec<&str> = report
        .lines()
        .find(|l| l.contains("sign/s"))
        .ok_or_else(|| anyhow::anyhow!("no header in openssl speed output: {report}"))?
        .split_whitespace()
        .collect();
    let row: Vec<&str> = report
        .lines()
        .find(|l| l.starts_with("rsa 2048 bits") || l.starts_with("rsa  2048 bits"))
        .ok_or_else(|| anyhow::anyhow!("no rsa 2048 row in: {report}"))?
        .split_whitespace()
        .skip(3)
        .collect();
    let column = ["encr./s", "verify/s"]
        .into_iter()
        .find(|c| header.contains(c))
        .ok_or_else(|| anyhow::anyhow!("no public-key column in: {report}"))?;
    let index = header
        .iter()
        .position(|h| *h == column)
        .ok_or_else(|| anyhow::anyhow!("no {column}"))?;
    let rate = row
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("short rsa row"))?
        .parse()?;
    Ok((column.to_owned(), rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_public_key_rate_of_openssl_speed() {
        let old = "                  sign    verify    sign/s verify/s\nrsa 2048 bits 0.000294s 0.000017s   3401.4  59147.0\n";
        assert_eq!(
            parse_openssl_speed(old).unwrap(),
            ("verify/s".to_owned(), 59147.0)
        );
        let new = "                   sign    verify    encrypt   decrypt   sign/s verify/s  encr./s  decr./s\n\
            rsa 2048 bits 0.000300s 0.000020s 0.000021s 0.000310s   3333.3  50000.0  47619.0   3225.8\n";
        assert_eq!(
            parse_openssl_speed(new).unwrap(),
            ("encr./s".to_owned(), 47619.0)
        );
    }
}
