//! `checkout-gateway bench quota`: the issue-5 quota benchmark. One sandbox enforcing a quota of Q req/s;
//! R gateway replicas (in-process, one shared database) driving K users through whole
//! purchases; then, as the baseline measured in the same run, the same K users calling the
//! sandbox directly with no coordination (a "naive client", as an app would on its own).
//! Prints upstream 429s, utilisation, purchases per minute, completion times and upstream
//! calls per purchase for both.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};

use super::harness::{self, CARD, EVENT, TICKET};
use crate::config::{MaintenanceSettings, Settings, UpstreamTarget};
use crate::http::auth::issue_token;
use crate::payment_crypto::PaymentEncryptor;
use crate::sandbox::{SandboxConfig, SandboxHandle};
use crate::startup::{Application, BuildOptions, Running};
use crate::upstream::wire;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub users: usize,
    pub replicas: usize,
    pub quota: f64,
}

/// One side's figures.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunFigures {
    pub completed: usize,
    pub failed: usize,
    pub upstream_requests: u64,
    pub upstream_429s: u64,
    pub max_per_second: u64,
    pub seconds: f64,
    pub completion_ms: Vec<u64>,
    /// Upstream requests in each whole second of the run.
    pub per_second: Vec<u64>,
}

impl RunFigures {
    /// A run's figures: the sandbox's counts, its length, and each user's result (a
    /// completion time in milliseconds, or a failure).
    fn of(
        stats: &crate::sandbox::SandboxStats,
        seconds: f64,
        results: Vec<anyhow::Result<u64>>,
    ) -> Self {
        let mut figures = RunFigures {
            upstream_requests: stats.requests,
            upstream_429s: stats.quota_429s,
            max_per_second: stats.max_requests_in_any_second,
            per_second: stats.requests_by_second.clone(),
            seconds,
            ..RunFigures::default()
        };
        for r in results {
            match r {
                Ok(ms) => {
                    figures.completed += 1;
                    figures.completion_ms.push(ms);
                }
                Err(_) => figures.failed += 1,
            }
        }
        figures
    }

    fn utilisation(&self, quota: f64) -> f64 {
        self.upstream_requests as f64 / (quota * self.seconds.max(0.001))
    }

    fn per_minute(&self) -> f64 {
        self.completed as f64 / (self.seconds / 60.0).max(1e-9)
    }

    fn percentile(&self, p: f64) -> u64 {
        let mut v = self.completion_ms.clone();
        v.sort_unstable();
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    }

    fn calls_per_purchase(&self) -> f64 {
        self.upstream_requests as f64 / self.completed.max(1) as f64
    }
}

async fn start_sandbox(quota: f64) -> anyhow::Result<SandboxHandle> {
    harness::start_sandbox(SandboxConfig {
        requests_per_second: Some(quota),
        hold_secs: 3600,
        ..SandboxConfig::default()
    })
    .await
}

pub async fn run(mut settings: Settings, plan: BenchPlan) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "checkout-gateway-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    if settings.database.url.starts_with("sqlite:") {
        settings.database.url = format!("sqlite://{}/bench.db", dir.display());
    }
    let secret = settings
        .auth
        .jwt_hs256_secret
        .clone()
        .ok_or_else(|| anyhow::anyhow!("auth.jwt_hs256_secret is not set"))?;
    println!(
        "bench: {} users, {} replicas, upstream quota {} req/s (sandbox, no forced polling)",
        plan.users, plan.replicas, plan.quota
    );

    claim_cost(&settings).await?;
    let gateway = gateway_run(&settings, &plan, &secret).await?;
    let naive = naive_run(&plan).await?;
    print_table(&plan, &gateway, &naive);
    super::results::write(
        "quota",
        &serde_json::json!({
            "users": plan.users, "replicas": plan.replicas, "quota": plan.quota,
            "gateway": gateway, "naive": naive,
        }),
    )?;
    chart(&plan, &gateway, &naive)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn gateway_run(
    settings: &Settings,
    plan: &BenchPlan,
    secret: &SecretString,
) -> anyhow::Result<RunFigures> {
    let sandbox = start_sandbox(plan.quota).await?;
    let mut replicas: Vec<(String, Running)> = Vec::new();
    for _ in 0..plan.replicas {
        let mut s = settings.clone();
        s.upstream.target = UpstreamTarget::Remote(url::Url::parse(&sandbox.base_url())?);
        s.upstream.requests_per_second = plan.quota;
        s.http.listen = "127.0.0.1:0".parse()?;
        s.admin.listen = "127.0.0.1:0".parse()?;
        s.http.max_wait_secs = 120;
        s.admission.user_burst = 10_000;
        s.admission.ip_burst = 10_000;
        let (start_hour, end_hour) = harness::maintenance_far_from_now();
        s.maintenance = MaintenanceSettings {
            start_hour,
            end_hour,
        };
        let app = Application::build(s, BuildOptions::default()).await?;
        replicas.push((format!("http://127.0.0.1:{}", app.port()), app.spawn()));
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let users = (0..plan.users).map(|i| {
        let base = replicas[i % replicas.len()].0.clone();
        let (client, secret) = (client.clone(), secret.clone());
        async move {
            let token =
                issue_token(&secret, &format!("bench-{i}"), 3600).map_err(anyhow::Error::msg)?;
            let t0 = Instant::now();
            gateway_purchase(&client, &base, &token).await?;
            Ok::<u64, anyhow::Error>(t0.elapsed().as_millis() as u64)
        }
    });
    let results = futures::future::join_all(users).await;
    let seconds = started.elapsed().as_secs_f64();
    let stats = sandbox.stats();
    let figures = RunFigures::of(&stats, seconds, results);
    drop(replicas);
    sandbox.stop().await;
    Ok(figures)
}

async fn gateway_purchase(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<()> {
    let call = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .header("Prefer", "wait=120")
    };
    let created: Value = call(reqwest::Method::POST, "/v1/checkouts")
        .json(&json!({"event_id": EVENT, "captcha_token": format!("bench-{}", uuid::Uuid::new_v4().simple()),
                      "tickets": [{"ticket_id": TICKET, "quantity": 1}]}))
        .send().await?.error_for_status()?.json().await?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id"))?
        .to_owned();
    call(reqwest::Method::PUT, &format!("/v1/checkouts/{id}/payment"))
        .json(&json!({"card": {"number": CARD, "cvv": "123", "expire_month": 12, "expire_year": 2020},
            "billing": {"first_name": "Bench", "last_name": "User", "email": "bench@example.com", "phone": "212-867-5309",
                "address": {"line1": "1 Main St", "city": "Los Angeles", "region": "CA", "postal_code": "90210", "country": "US"}}}))
        .send().await?.error_for_status()?;
    let bought: Value = call(
        reqwest::Method::POST,
        &format!("/v1/checkouts/{id}/purchase"),
    )
    .send()
    .await?
    .error_for_status()?
    .json()
    .await?;
    anyhow::ensure!(bought["state"] == "purchased", "not purchased: {bought}");
    Ok(())
}

/// What the deployment-wide quota costs per upstream request: one claim in the database,
/// against this replica's own limiter alone (the baseline), measured here and now.
async fn claim_cost(settings: &Settings) -> anyhow::Result<()> {
    const CLAIMS: u32 = 500;
    let store = crate::store::Store::connect_with(&settings.database.connect_options()).await?;
    store.migrate().await?;
    // A tiny window, so every claim finds a free slot: this times the claim, not waiting.
    let window = chrono::TimeDelta::microseconds(1);
    let started = Instant::now();
    for _ in 0..CLAIMS {
        store
            .quota
            .claim_send("second", 16, chrono::Utc::now(), window)
            .await?;
    }
    let shared = started.elapsed() / CLAIMS;
    let local = crate::upstream::QuotaLimiter::new(1_000_000.0);
    let started = Instant::now();
    for _ in 0..CLAIMS {
        let claim = crate::upstream::Claim::system(crate::upstream::Priority::Critical);
        let _slot = local.acquire(claim).await;
    }
    let alone = started.elapsed() / CLAIMS;
    println!(
        "shared quota claim: {} µs per upstream request ({:?} store) vs {} µs for the local limiter alone ({:.0}×)",
        shared.as_micros(),
        store.backend,
        alone.as_micros(),
        shared.as_secs_f64() / alone.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// The baseline: every user calls the Partner API itself, as an app without a gateway would.
/// A 429 is retried once after a second; then the purchase is lost.
async fn naive_run(plan: &BenchPlan) -> anyhow::Result<RunFigures> {
    let sandbox = start_sandbox(plan.quota).await?;
    let base = sandbox.base_url();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let users = (0..plan.users).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let t0 = Instant::now();
            naive_purchase(&client, &base, i).await?;
            Ok::<u64, anyhow::Error>(t0.elapsed().as_millis() as u64)
        }
    });
    let results = futures::future::join_all(users).await;
    let stats = sandbox.stats();
    let figures = RunFigures::of(&stats, started.elapsed().as_secs_f64(), results);
    sandbox.stop().await;
    Ok(figures)
}

async fn naive_call(req: impl Fn() -> reqwest::RequestBuilder) -> anyhow::Result<Value> {
    for attempt in 0..2 {
        let resp = req().header("True-Client-IP", "203.0.113.7").send().await?;
        if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS && attempt == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let resp = resp.error_for_status()?;
        let text = resp.text().await?;
        return Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        });
    }
    anyhow::bail!("rate limited")
}

async fn naive_purchase(client: &reqwest::Client, base: &str, i: usize) -> anyhow::Result<()> {
    let key = "apikey=sandbox-apikey";
    let session = naive_call(|| {
        client
            .post(format!("{base}/cart?{key}"))
            .json(&json!({"token": format!("naive-{i}-{}", uuid::Uuid::new_v4().simple())}))
    })
    .await?;
    let cart_id = session["cart_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no cart"))?
        .to_owned();
    let encoded: String = url::form_urlencoded::byte_serialize(cart_id.as_bytes()).collect();
    let cart = naive_call(|| client.put(format!("{base}/cart/tickets?{key}"))
        .json(&json!({"cart_id": cart_id, "event": {"id": EVENT, "tickets": [{"id": TICKET, "quantity": 1}]}}))).await?;
    let grand = cart["cart"]["totals"]["grand"].as_f64().unwrap_or(25.0);
    let cert: wire::Certificate = serde_json::from_value(
        naive_call(|| client.get(format!("{base}/certificate?{key}&cart_id={encoded}"))).await?,
    )?;
    let encryptor = PaymentEncryptor::from_certificate(&cert)?;
    let number = encryptor.encrypt(CARD)?;
    let cin = encryptor.encrypt("123")?;
    naive_call(|| client.put(format!("{base}/cart/payment?{key}")).json(&json!({"cart_id": cart_id, "payment": {
        "first_name": "Naive", "last_name": "User", "home_phone": "212-867-5309", "type": "CC", "email_address": "naive@example.com",
        "address": {"line1": "1 Main St", "line2": "", "city": "Los Angeles", "country": {"id": 840}, "region": {"abbrev": "CA"}, "postal_code": "90210"},
        "amount": format!("{grand:.2}"),
        "card": {"number": number, "cin": cin, "encryption_key": cert.id, "expire_month": 12, "expire_year": 2020, "postal_code": "90210"}}}))).await?;
    naive_call(|| {
        client
            .put(format!("{base}/cart?{key}"))
            .json(&json!({"cart_id": cart_id, "source_account_id": format!("naive{i}")}))
    })
    .await?;
    Ok(())
}

/// Upstream requests per second through the run, gateway and naive clients, against the quota.
fn chart(plan: &BenchPlan, gateway: &RunFigures, naive: &RunFigures) -> anyhow::Result<()> {
    use super::charts::{self, BASELINE, GATEWAY, Panel, Series};
    let line = |f: &RunFigures| -> Vec<(f64, f64)> {
        f.per_second
            .iter()
            .enumerate()
            .map(|(s, n)| (s as f64, *n as f64))
            .collect()
    };
    let seconds = gateway.per_second.len().max(naive.per_second.len()) as f64;
    let panels = [Panel {
        title: "upstream requests per second",
        x: "seconds into the run",
        y: "requests",
        // The quota first, so the gateway's line (often right on it) is drawn over it.
        series: vec![
            Series {
                label: "quota",
                color: charts::QUOTA,
                points: vec![(0.0, plan.quota), (seconds, plan.quota)],
            },
            Series {
                label: "naive clients",
                color: BASELINE,
                points: line(naive),
            },
            Series {
                label: "through the gateway",
                color: GATEWAY,
                points: line(gateway),
            },
        ],
        legend: plotters::chart::SeriesLabelPosition::UpperRight,
    }];
    charts::draw("quota", &panels)?;
    Ok(())
}

fn print_table(plan: &BenchPlan, gateway: &RunFigures, naive: &RunFigures) {
    // Per purchase: open cart, reserve, payment, purchase (no polling requested). Event
    // details and the 24 h certificate are needed once per replica, not per purchase.
    const MINIMUM_CALLS: f64 = 4.0;
    println!();
    println!(
        "| measure | gateway ({} replicas) | naive client (baseline) |",
        plan.replicas
    );
    println!("| --- | --- | --- |");
    println!(
        "| purchases completed / attempted | {} / {} | {} / {} |",
        gateway.completed, plan.users, naive.completed, plan.users
    );
    println!(
        "| upstream 429s | {} | {} |",
        gateway.upstream_429s, naive.upstream_429s
    );
    println!(
        "| most upstream requests in any 1 s (quota {}) | {} | {} |",
        plan.quota, gateway.max_per_second, naive.max_per_second
    );
    println!(
        "| upstream utilisation (requests / (Q × s)) | {:.2} | {:.2} |",
        gateway.utilisation(plan.quota),
        naive.utilisation(plan.quota)
    );
    println!(
        "| purchases per minute | {:.1} | {:.1} |",
        gateway.per_minute(),
        naive.per_minute()
    );
    println!(
        "| checkout completion p50 / p99 (ms) | {} / {} | {} / {} |",
        gateway.percentile(0.5),
        gateway.percentile(0.99),
        naive.percentile(0.5),
        naive.percentile(0.99)
    );
    println!(
        "| upstream calls per purchase (minimum {MINIMUM_CALLS}) | {:.2} ({:.2}× min) | {:.2} |",
        gateway.calls_per_purchase(),
        gateway.calls_per_purchase() / MINIMUM_CALLS,
        naive.calls_per_purchase()
    );
    println!(
        "| wall time (s) | {:.1} | {:.1} |",
        gateway.seconds, naive.seconds
    );
}
