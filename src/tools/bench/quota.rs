//! `checkout-gateway bench quota`: the issue-5 quota benchmark. One sandbox enforcing a quota of Q req/s;
//! R gateway replicas (in-process on the configured store, or with `--serve` as `serve`
//! processes on a fresh Postgres database) driving K users through whole purchases (one each,
//! or with `--sustain-secs` one after another for that long); then, as the baseline measured
//! in the same run, the same K users calling the sandbox directly with no coordination (a
//! "naive client", as an app would on its own). Prints upstream 429s, utilisation (over the
//! run and over the seconds at full demand), purchases per minute, completion times and
//! upstream calls per purchase for both, and what the shared limiter's claims cost: one
//! claim alone, and how many claims a second the store grants to many claimers at once (the
//! rate where one row per upstream request stops).

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};

use super::harness::{self, CARD, EVENT, TICKET};
use crate::config::{MaintenanceSettings, Settings, UpstreamTarget};
use crate::http::auth::issue_token;
use crate::payment_crypto::PaymentEncryptor;
use crate::sandbox::{SandboxConfig, SandboxHandle};
use crate::startup::{Application, BuildOptions, Running};
use crate::store::{Claimed, SendClaim};
use crate::upstream::wire;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub users: usize,
    pub replicas: usize,
    pub quota: f64,
    /// Replicas as `serve` processes on a fresh Postgres database (`DATABASE_URL` or the
    /// local server), rather than in this process on the configured store.
    pub serve: bool,
    /// Each user buys again and again until this many seconds have passed; 0: one purchase
    /// each.
    pub sustain_secs: u64,
}

impl BenchPlan {
    /// The whole seconds of the run in which every user was still buying: from the second
    /// after the first request (the ramp) to the one before the users stop starting new
    /// purchases (the tail). Empty for one purchase per user, whose demand falls off as
    /// users finish.
    fn full_demand(&self) -> std::ops::Range<usize> {
        let end = usize::try_from(self.sustain_secs).unwrap_or(usize::MAX);
        1..end.saturating_sub(1).max(1)
    }
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
    /// Requests / (Q × s) over [`BenchPlan::full_demand`]'s seconds; `None` without them.
    pub full_demand_utilisation: Option<f64>,
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

    /// Sets [`Self::full_demand_utilisation`] from the seconds `full` of the run.
    fn with_full_demand(mut self, full: std::ops::Range<usize>, quota: f64) -> Self {
        let seconds = self.per_second.get(full).unwrap_or_default();
        if !seconds.is_empty() {
            let sent: u64 = seconds.iter().sum();
            self.full_demand_utilisation = Some(sent as f64 / (quota * seconds.len() as f64));
        }
        self
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

async fn start_sandbox(plan: &BenchPlan) -> anyhow::Result<SandboxHandle> {
    harness::start_sandbox(SandboxConfig {
        requests_per_second: Some(plan.quota),
        hold_secs: 3600,
        // 50,000 seats of the bench's event when buying goes on: it must not sell out.
        seats_per_row: (plan.sustain_secs > 0).then_some(1000),
        ..SandboxConfig::default()
    })
    .await
}

pub async fn run(settings: Settings, plan: BenchPlan) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "checkout-gateway-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let secret = settings
        .auth
        .jwt_hs256_secret
        .clone()
        .ok_or_else(|| anyhow::anyhow!("auth.jwt_hs256_secret is not set"))?;
    let mut store = settings.database.clone();
    if plan.serve {
        store.url = harness::fresh_database().await;
    } else if store.url.starts_with("sqlite:") {
        store.url = format!("sqlite://{}/bench.db", dir.display());
    }
    println!(
        "bench: {} users, {} replicas ({} on {}), upstream quota {} req/s (sandbox, no forced polling), {}",
        plan.users,
        plan.replicas,
        if plan.serve {
            "serve processes"
        } else {
            "in-process"
        },
        if store.url.starts_with("postgres") {
            "Postgres"
        } else {
            "SQLite"
        },
        plan.quota,
        if plan.sustain_secs > 0 {
            format!("buying for {} s", plan.sustain_secs)
        } else {
            "one purchase each".to_owned()
        },
    );

    let claims = claim_costs(&store, &plan).await?;
    let gateway = gateway_run(&settings, &store, &plan, &secret).await?;
    let naive = naive_run(&plan).await?;
    print_table(&plan, &gateway, &naive);
    super::results::write(
        "quota",
        &serde_json::json!({
            "users": plan.users, "replicas": plan.replicas, "quota": plan.quota,
            "serve": plan.serve, "sustain_secs": plan.sustain_secs, "claims": claims,
            "gateway": gateway, "naive": naive,
        }),
    )?;
    chart(&plan, &gateway, &naive)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The replicas the users call, running while this lives.
struct Fleet {
    bases: Vec<String>,
    _in_process: Vec<Running>,
    _processes: Vec<harness::Replica>,
}

impl Fleet {
    async fn start(
        settings: &Settings,
        store: &crate::config::DatabaseSettings,
        plan: &BenchPlan,
        upstream: &str,
        secret: &SecretString,
    ) -> anyhow::Result<Self> {
        let mut fleet = Fleet {
            bases: Vec::new(),
            _in_process: Vec::new(),
            _processes: Vec::new(),
        };
        if plan.serve {
            let env = harness::Env::new(secret.clone())?;
            let quota = plan.quota.to_string();
            let settings = [
                ("APP__UPSTREAM__REQUESTS_PER_SECOND", quota.as_str()),
                ("APP__HTTP__MAX_WAIT_SECS", "120"),
            ];
            for _ in 0..plan.replicas {
                let replica = harness::Replica::start(
                    &env,
                    &harness::ReplicaSpec {
                        database_url: &store.url,
                        upstream,
                        env: &settings,
                        log: None,
                    },
                )
                .await?;
                fleet.bases.push(replica.base.clone());
                fleet._processes.push(replica);
            }
            return Ok(fleet);
        }
        for _ in 0..plan.replicas {
            let mut s = settings.clone();
            s.database = store.clone();
            s.upstream.target = UpstreamTarget::Remote(url::Url::parse(upstream)?);
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
            fleet.bases.push(format!("http://127.0.0.1:{}", app.port()));
            fleet._in_process.push(app.spawn());
        }
        Ok(fleet)
    }
}

/// One user's purchases: one, or one after another until `until`; each its completion time
/// in milliseconds, or its failure.
async fn purchases<F, Fut>(until: Option<Instant>, mut purchase: F) -> Vec<anyhow::Result<u64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut results = Vec::new();
    loop {
        let t0 = Instant::now();
        let result = purchase().await;
        results.push(result.map(|()| t0.elapsed().as_millis() as u64));
        if until.is_none_or(|until| Instant::now() >= until) {
            return results;
        }
    }
}

/// When users stop starting purchases, for a plan that sustains them.
fn buying_until(plan: &BenchPlan, started: Instant) -> Option<Instant> {
    (plan.sustain_secs > 0).then(|| started + Duration::from_secs(plan.sustain_secs))
}

async fn gateway_run(
    settings: &Settings,
    store: &crate::config::DatabaseSettings,
    plan: &BenchPlan,
    secret: &SecretString,
) -> anyhow::Result<RunFigures> {
    let sandbox = start_sandbox(plan).await?;
    let fleet = Fleet::start(settings, store, plan, &sandbox.base_url(), secret).await?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let until = buying_until(plan, started);
    let users = (0..plan.users).map(|i| {
        let base = fleet.bases[i % fleet.bases.len()].clone();
        let (client, secret) = (client.clone(), secret.clone());
        async move {
            let token = match issue_token(&secret, &format!("bench-{i}"), 3600) {
                Ok(token) => token,
                Err(e) => return vec![Err(anyhow::Error::msg(e))],
            };
            purchases(until, || gateway_purchase(&client, &base, &token)).await
        }
    });
    let results = futures::future::join_all(users).await;
    let seconds = started.elapsed().as_secs_f64();
    let stats = sandbox.stats();
    let figures = RunFigures::of(&stats, seconds, results.into_iter().flatten().collect())
        .with_full_demand(plan.full_demand(), plan.quota);
    drop(fleet);
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

/// What the shared limiter's claims cost, measured here and now.
#[derive(Debug, Clone, serde::Serialize)]
struct ClaimCosts {
    /// One claim at a time, against the store: microseconds each.
    alone_us: u64,
    /// The same through this replica's own limiter only (the baseline).
    local_us: u64,
    /// Claims a second the store granted to [`CLAIMERS`] concurrent claimers over
    /// [`REPLICA_POOLS`] pools: the rate one row per upstream request tops out at.
    granted_per_second: f64,
}

/// Concurrent claimers in the ceiling measurement, spread over one pool per replica.
const CLAIMERS: usize = 24;
const REPLICA_POOLS: usize = 3;

/// What the deployment-wide quota costs per upstream request: one claim in the database,
/// against this replica's own limiter alone (the baseline); then how many claims a second the
/// store grants to many claimers at once, with a quota so large only the store limits them.
async fn claim_costs(
    store: &crate::config::DatabaseSettings,
    plan: &BenchPlan,
) -> anyhow::Result<ClaimCosts> {
    const CLAIMS: u32 = 500;
    // A tiny window, so every claim finds a free slot: this times the claim, not waiting.
    let window = chrono::TimeDelta::microseconds(1);
    let capacity = (plan.quota.ceil() as u32).max(1);
    let first = crate::store::Store::connect_with(&store.connect_options()).await?;
    first.migrate().await?;
    let started = Instant::now();
    for _ in 0..CLAIMS {
        let ask = SendClaim {
            budget: "bench-alone",
            capacity,
            now: chrono::Utc::now(),
            window,
            sends: 1,
        };
        first.quota.claim_send(&ask).await?;
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
        first.backend,
        alone.as_micros(),
        shared.as_secs_f64() / alone.as_secs_f64().max(1e-9)
    );

    let mut pools = vec![first];
    while pools.len() < REPLICA_POOLS {
        pools.push(crate::store::Store::connect_with(&store.connect_options()).await?);
    }
    let measure = Duration::from_secs(3);
    let until = Instant::now() + measure;
    let claimers = (0..CLAIMERS).map(|i| {
        let quota = pools[i % pools.len()].quota.clone();
        async move {
            let mut granted = 0u64;
            while Instant::now() < until {
                let ask = SendClaim {
                    budget: "bench-ceiling",
                    capacity,
                    now: chrono::Utc::now(),
                    window,
                    sends: 1,
                };
                if let Claimed::Granted(sends) = quota.claim_send(&ask).await? {
                    granted += u64::from(sends);
                }
            }
            Ok::<u64, anyhow::Error>(granted)
        }
    });
    let granted: u64 = futures::future::try_join_all(claimers)
        .await?
        .into_iter()
        .sum();
    let granted_per_second = granted as f64 / measure.as_secs_f64();
    println!(
        "shared quota ceiling: {granted_per_second:.0} claims/s granted to {CLAIMERS} concurrent claimers over {REPLICA_POOLS} pools (quota {})",
        plan.quota
    );
    Ok(ClaimCosts {
        alone_us: shared.as_micros() as u64,
        local_us: alone.as_micros() as u64,
        granted_per_second,
    })
}

/// The baseline: every user calls the Partner API itself, as an app without a gateway would.
/// A 429 is retried once after a second; then the purchase is lost.
async fn naive_run(plan: &BenchPlan) -> anyhow::Result<RunFigures> {
    let sandbox = start_sandbox(plan).await?;
    let base = sandbox.base_url();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let until = buying_until(plan, started);
    let users = (0..plan.users).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move { purchases(until, || naive_purchase(&client, &base, i)).await }
    });
    let results = futures::future::join_all(users).await;
    let stats = sandbox.stats();
    let figures = RunFigures::of(
        &stats,
        started.elapsed().as_secs_f64(),
        results.into_iter().flatten().collect(),
    )
    .with_full_demand(plan.full_demand(), plan.quota);
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
        gateway.completed,
        gateway.completed + gateway.failed,
        naive.completed,
        naive.completed + naive.failed
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
    if let (Some(g), Some(n)) = (
        gateway.full_demand_utilisation,
        naive.full_demand_utilisation,
    ) {
        let full = plan.full_demand();
        println!(
            "| utilisation at full demand (seconds {}–{}) | {g:.3} | {n:.2} |",
            full.start,
            full.end - 1
        );
    }
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
