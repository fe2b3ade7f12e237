//! Part 2, flow cost: per step of a purchase (create → reserved, payment, purchase), the time
//! a client waits on the gateway against the time upstream itself takes for that step's calls
//! (the baseline: the same Partner-API calls made directly, in the same run, against the same
//! sandbox with zero latency and zero polling wait), and against the floor: those calls with
//! the durable writes persist-then-call cannot do without ([`FLOOR_COMMITS`]), made by the
//! bench on a connection of its own to the same Postgres. Then RSA PKCS#1 v1.5 card-field
//! encryptions per second on one core against `openssl speed rsa2048`'s public-key rate,
//! measured here and now.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Sizes;
use super::harness::{CARD, Call, EVENT, Env, TICKET, payment_body, percentile};
use super::harness::{Stage, instant_upstream};
use crate::payment_crypto::PaymentEncryptor;
use crate::upstream::wire;

const STEPS: [&str; 3] = ["create → reserved", "payment", "purchase"];

/// The zero-latency sandbox with rows long enough for three purchases a round (the gateway's,
/// upstream alone, the floor) over a long run; the fixed layouts sell out. Its certificate
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
    let upstream = sandbox.base_url();
    let token = env.token("bench-flow")?;
    let mut journal = Journal::open(&database_url).await?;
    // Warm-up (event details, certificate, connections) outside the figures.
    gateway_purchase(env, &replica.base, &token).await?;
    direct_purchase(env, &upstream, sizes.purchases, &mut journal).await?;
    let mut gateway = StepTimes::default();
    let mut direct = StepTimes::default();
    let mut floor = StepTimes::default();
    let mut certificate = None;
    for i in 0..sizes.purchases {
        let times = gateway_purchase(env, &replica.base, &token).await?;
        let (direct_times, cert) = direct_purchase(env, &upstream, i, &mut Journal::None).await?;
        let (floor_times, _) = direct_purchase(env, &upstream, i, &mut journal).await?;
        for step in 0..3 {
            gateway.0[step].push(times[step]);
            direct.0[step].push(direct_times[step]);
            floor.0[step].push(floor_times[step]);
        }
        certificate = Some(cert);
    }
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
    let figures = FlowFigures::of(&gateway, &direct, &floor);
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
    super::results::write("flow", &figures)?;
    figures.chart()?;
    if let Some(cert) = certificate {
        rsa_rate(&cert).await?;
    }
    Ok(())
}

/// Per step: p50 and p99, and every sample in milliseconds (gateway, and upstream alone), so
/// the distributions can be charted from the JSON results.
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
    gateway_ms: Vec<f64>,
    upstream_ms: Vec<f64>,
    floor_ms: Vec<f64>,
}

impl FlowFigures {
    /// Each step's latency distribution: the gateway's, upstream alone, and the floor.
    fn chart(&self) -> anyhow::Result<()> {
        use super::charts::{self, BASELINE, FLOOR, GATEWAY, Panel, Series, cdf};
        let panels: Vec<Panel<'_>> = self
            .steps
            .iter()
            .map(|s| Panel {
                title: s.step,
                x: "milliseconds",
                y: "% of purchases at or below",
                series: vec![
                    Series {
                        label: "through the gateway",
                        color: GATEWAY,
                        points: cdf(&s.gateway_ms),
                    },
                    Series {
                        label: "upstream alone",
                        color: BASELINE,
                        points: cdf(&s.upstream_ms),
                    },
                    Series {
                        label: "upstream with persist-then-call's commits",
                        color: FLOOR,
                        points: cdf(&s.floor_ms),
                    },
                ],
                legend: plotters::chart::SeriesLabelPosition::LowerRight,
            })
            .collect();
        charts::draw("flow", &panels)?;
        Ok(())
    }

    fn of(gateway: &StepTimes, direct: &StepTimes, floor: &StepTimes) -> Self {
        let steps = STEPS
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let (g, d, f) = (&gateway.0[i], &direct.0[i], &floor.0[i]);
                StepFigures {
                    step,
                    gateway_p50_ms: percentile(g, 0.5),
                    gateway_p99_ms: percentile(g, 0.99),
                    upstream_p50_ms: percentile(d, 0.5),
                    upstream_p99_ms: percentile(d, 0.99),
                    floor_p50_ms: percentile(f, 0.5),
                    floor_p99_ms: percentile(f, 0.99),
                    floor_commits: FLOOR_COMMITS[i],
                    gateway_ms: g.clone(),
                    upstream_ms: d.clone(),
                    floor_ms: f.clone(),
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

async fn direct_call(req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let resp = req
        .header("True-Client-IP", "203.0.113.7")
        .send()
        .await?
        .error_for_status()?;
    let text = resp.text().await?;
    Ok(if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    })
}

/// The same purchase straight against the sandbox: the milliseconds of its HTTP calls per
/// step (encryption and the certificate, which the gateway caches, are not timed), with the
/// `journal`'s durable writes where persist-then-call needs them when it has a connection.
async fn direct_purchase(
    env: &Env,
    base: &str,
    i: usize,
    journal: &mut Journal,
) -> anyhow::Result<([f64; 3], wire::Certificate)> {
    let client = &env.client;
    let key = "apikey=sandbox-apikey";
    let started = Instant::now();
    journal.insert(i).await?;
    let session = direct_call(
        client
            .post(format!("{base}/cart?{key}"))
            .json(&json!({"token": format!("direct-{i}-{}", uuid::Uuid::new_v4().simple())})),
    )
    .await?;
    let cart_id = session["cart_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no cart"))?
        .to_owned();
    journal.write(i, "cart opened").await?;
    let cart = direct_call(client.put(format!("{base}/cart/tickets?{key}")).json(
        &json!({"cart_id": cart_id, "event": {"id": EVENT, "tickets": [{"id": TICKET, "quantity": 1}]}}),
    ))
    .await?;
    journal.write(i, "reserved").await?;
    let created = ms(started);
    let grand = cart["cart"]["totals"]["grand"].as_f64().unwrap_or(25.0);
    let encoded: String = url::form_urlencoded::byte_serialize(cart_id.as_bytes()).collect();
    let cert: wire::Certificate = serde_json::from_value(
        direct_call(client.get(format!("{base}/certificate?{key}&cart_id={encoded}"))).await?,
    )?;
    let encryptor = PaymentEncryptor::from_certificate(&cert)?;
    let (number, cin) = (encryptor.encrypt(CARD)?, encryptor.encrypt("123")?);
    let payment = json!({"cart_id": cart_id, "payment": {
        "first_name": "Direct", "last_name": "User", "home_phone": "212-867-5309", "type": "CC", "email_address": "direct@example.com",
        "address": {"line1": "1 Main St", "line2": "", "city": "Los Angeles", "country": {"id": 840}, "region": {"abbrev": "CA"}, "postal_code": "90210"},
        "amount": format!("{grand:.2}"),
        "card": {"number": number, "cin": cin, "encryption_key": cert.id, "expire_month": 12, "expire_year": 2020, "postal_code": "90210"}}});
    let started = Instant::now();
    journal.write(i, "paying").await?;
    direct_call(
        client
            .put(format!("{base}/cart/payment?{key}"))
            .json(&payment),
    )
    .await?;
    journal.write(i, "paid").await?;
    let paid = ms(started);
    let started = Instant::now();
    journal.write(i, "purchasing").await?;
    direct_call(
        client
            .put(format!("{base}/cart?{key}"))
            .json(&json!({"cart_id": cart_id, "source_account_id": format!("direct{i}")})),
    )
    .await?;
    journal.write(i, "purchased").await?;
    Ok(([created, paid, ms(started)], cert))
}

/// Durable writes per step in the floor: a create writes before it opens the cart (the
/// idempotency key is taken before anything happens upstream), before it asks for the
/// reservation (the cart id, so a crash can release the hold) and after (its outcome); a
/// payment and a purchase write before their call and after it. Quota claims are left out:
/// the gateway makes each in the statement of the write before its call (or beside it).
const FLOOR_COMMITS: [usize; 3] = [3, 2, 2];

/// Where the floor's purchases write: one connection of its own, one single-row statement a
/// commit, durable (`synchronous_commit` as the server has it), as the gateway's writes are.
enum Journal {
    None,
    Postgres(sqlx::PgConnection),
}

impl Journal {
    async fn open(database_url: &str) -> anyhow::Result<Self> {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url).await?;
        sqlx::query(
            "CREATE TABLE bench_floor (id bigint PRIMARY KEY, state text NOT NULL, \
             updated_at timestamptz NOT NULL DEFAULT now())",
        )
        .execute(&mut conn)
        .await?;
        Ok(Self::Postgres(conn))
    }

    fn conn(&mut self) -> Option<&mut sqlx::PgConnection> {
        match self {
            Self::None => None,
            Self::Postgres(conn) => Some(conn),
        }
    }

    async fn insert(&mut self, purchase: usize) -> anyhow::Result<()> {
        if let Some(conn) = self.conn() {
            sqlx::query(
                "INSERT INTO bench_floor (id, state) VALUES ($1, 'creating') \
                 ON CONFLICT (id) DO UPDATE SET state = 'creating', updated_at = now()",
            )
            .bind(i64::try_from(purchase)?)
            .execute(conn)
            .await?;
        }
        Ok(())
    }

    async fn write(&mut self, purchase: usize, state: &str) -> anyhow::Result<()> {
        if let Some(conn) = self.conn() {
            sqlx::query("UPDATE bench_floor SET state = $2, updated_at = now() WHERE id = $1")
                .bind(i64::try_from(purchase)?)
                .bind(state)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
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
