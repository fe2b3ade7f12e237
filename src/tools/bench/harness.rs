//! What the issue-8 benchmarks share: the machine's description, a fresh Postgres database,
//! a standalone sandbox, `serve` child processes (so memory and CPU figures are the gateway's,
//! not the harness's), user tokens and the checkout calls, percentiles.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::http::auth::issue_token;
use crate::sandbox::{self, SandboxConfig, SandboxHandle};

pub const EVENT: &str = "3F004CBB88958BF9";
pub const TICKET: &str = "000002040006";
/// The Partner API's documented test card.
pub const CARD: &str = "4588883206000011";

/// The harness's own binary (it is also the gateway) and the token secret.
pub struct Env {
    pub exe: std::path::PathBuf,
    secret: SecretString,
    pub client: reqwest::Client,
}

impl Env {
    pub fn new(secret: SecretString) -> anyhow::Result<Self> {
        Ok(Self {
            exe: std::env::current_exe()?,
            secret,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?,
        })
    }

    pub fn token(&self, user: &str) -> anyhow::Result<String> {
        issue_token(&self.secret, user, 24 * 3600).map_err(anyhow::Error::msg)
    }

    /// One call to a replica with `Prefer: wait=N`; the status and the JSON body (or null).
    pub async fn call(&self, request: Call<'_>) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .client
            .request(request.method, format!("{}{}", request.base, request.path))
            .bearer_auth(request.token)
            .header("Prefer", format!("wait={}", request.wait));
        if let Some(body) = request.body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// `POST /v1/checkouts` for one ticket; the checkout's id.
    pub async fn create(&self, base: &str, token: &str, wait: u32) -> anyhow::Result<String> {
        let body = json!({"event_id": EVENT, "captcha_token": format!("bench-{}", uuid::Uuid::new_v4().simple()),
            "tickets": [{"ticket_id": TICKET, "quantity": 1}]});
        let (status, body) = self
            .call(Call {
                method: reqwest::Method::POST,
                base,
                path: "/v1/checkouts",
                token,
                wait,
                body: Some(body),
            })
            .await?;
        anyhow::ensure!(status == 201 || status == 202, "create: {status} {body}");
        body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("create: no id in {body}"))
    }
}

/// One gateway call (see [`Env::call`]).
pub struct Call<'a> {
    pub method: reqwest::Method,
    pub base: &'a str,
    pub path: &'a str,
    pub token: &'a str,
    pub wait: u32,
    pub body: Option<Value>,
}

pub fn payment_body() -> Value {
    json!({"card": {"number": CARD, "cvv": "123", "expire_month": 12, "expire_year": 2020},
        "billing": {"first_name": "Bench", "last_name": "User", "email": "bench@example.com", "phone": "212-867-5309",
            "address": {"line1": "1 Main St", "city": "Los Angeles", "region": "CA", "postal_code": "90210", "country": "US"}}})
}

/// `nproc` and the CPU model, for the README.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("machine: {cores} cores, {model}")
}

/// The venues' nightly maintenance window (venue-local hours) for a benchmark or soak: half
/// a day from now. Their clocks follow real time, and the default 2–3 AM window falls at
/// 09–11 UTC in the western venues, where it would refuse every ticketing call of a run.
pub fn maintenance_far_from_now() -> (u32, u32) {
    sandbox::maintenance_hours_away_from(chrono::Utc::now())
}

/// A standalone sandbox on a free loopback port, its maintenance window moved out of the run
/// ([`maintenance_far_from_now`]).
pub async fn start_sandbox(config: SandboxConfig) -> anyhow::Result<SandboxHandle> {
    let config = SandboxConfig {
        maintenance: maintenance_far_from_now(),
        ..config
    };
    Ok(sandbox::spawn(config, TcpListener::bind("127.0.0.1:0")?).await?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `checkout-gateway serve` child process; killed (SIGKILL) when dropped.
pub struct Replica {
    child: Child,
    pub base: String,
}

/// How to start a replica: the database, the upstream and extra `APP__…` settings.
pub struct ReplicaSpec<'a> {
    pub database_url: &'a str,
    pub upstream: &'a str,
    pub env: &'a [(&'a str, &'a str)],
    /// Appends the replica's output (its logs) here; otherwise it goes to /dev/null, or to
    /// this process's stderr with `BENCH_REPLICA_LOGS` set.
    pub log: Option<&'a std::path::Path>,
}

impl Replica {
    /// Start `serve` and wait until `/readyz` answers (60 s at most).
    pub async fn start(env: &Env, spec: &ReplicaSpec<'_>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let (maintenance_start, maintenance_end) = maintenance_far_from_now();
        let child = Command::new(&env.exe)
            .arg("serve")
            .env("APP_ENV", "local")
            .env("APP__DATABASE__URL", spec.database_url)
            .env("APP__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("APP__ADMIN__LISTEN", format!("127.0.0.1:{}", free_port()?))
            .env("APP__UPSTREAM__BASE_URL", spec.upstream)
            // A quota no benchmark reaches (the sandbox enforces none): they measure the
            // gateway itself. Its deployment-wide claims keep a ring of this many rows.
            .env("APP__UPSTREAM__REQUESTS_PER_SECOND", "2000")
            .env("APP__UPSTREAM__EVENT_CACHE_TTL_SECS", "3600")
            .env("APP__ADMISSION__USER_REQUESTS_PER_SECOND", "1000000")
            .env("APP__ADMISSION__USER_BURST", "1000000")
            .env("APP__ADMISSION__IP_REQUESTS_PER_SECOND", "1000000")
            .env("APP__ADMISSION__IP_BURST", "1000000")
            .env("APP__UNREDEEMED__ENABLED", "false")
            .env(
                "APP__MAINTENANCE__START_HOUR",
                maintenance_start.to_string(),
            )
            .env("APP__MAINTENANCE__END_HOUR", maintenance_end.to_string())
            // Production's log format and level; written to /dev/null.
            .env("APP__LOG__FORMAT", "json")
            .env("APP__LOG__LEVEL", "info")
            .envs(spec.env.iter().copied())
            .stdout(output(spec.log)?)
            .stderr(output(spec.log)?)
            .spawn()?;
        let mut replica = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = env
                .client
                .get(format!("{}/readyz", replica.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(replica);
            }
            if let Some(status) = replica.child.try_wait()? {
                anyhow::bail!("serve exited: {status}");
            }
            anyhow::ensure!(Instant::now() < deadline, "serve did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resident memory of the process (VmRSS), bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
        Ok(kb * 1024)
    }

    /// Whether the process has exited (by itself: it was not killed through [`Self::kill`]).
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|status| status.is_some())
    }

    /// `kill -9` and reap.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Where a replica's output goes (see [`ReplicaSpec::log`]).
fn output(log: Option<&std::path::Path>) -> std::io::Result<Stdio> {
    if let Some(path) = log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        return Ok(Stdio::from(file));
    }
    Ok(if std::env::var_os("BENCH_REPLICA_LOGS").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    })
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new, empty Postgres database for one benchmark (`DATABASE_URL` or the local server).
/// A sandbox that answers at once: no polling wait, no update latency, holds that outlast
/// the run. What the gateway adds is then all that is measured.
pub fn instant_upstream() -> SandboxConfig {
    SandboxConfig {
        poll_wait_secs: 0.0,
        update_latency: std::time::Duration::ZERO,
        hold_secs: 3600,
        ..SandboxConfig::default()
    }
}

/// A sandbox, a fresh Postgres database and one `serve` replica against both: the stage of
/// the single-replica benchmarks.
pub struct Stage {
    pub sandbox: SandboxHandle,
    pub database_url: String,
    pub replica: Replica,
}

impl Stage {
    pub async fn start(
        env: &Env,
        sandbox: SandboxConfig,
        replica_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_logged(env, sandbox, replica_env, None).await
    }

    /// [`Stage::start`], the replica's output appended to `log` (see [`ReplicaSpec::log`]).
    pub async fn start_logged(
        env: &Env,
        sandbox: SandboxConfig,
        replica_env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let sandbox = start_sandbox(sandbox).await?;
        let database_url = fresh_database().await;
        let upstream = sandbox.base_url();
        let replica = Replica::start(
            env,
            &ReplicaSpec {
                database_url: &database_url,
                upstream: &upstream,
                env: replica_env,
                log,
            },
        )
        .await?;
        Ok(Self {
            sandbox,
            database_url,
            replica,
        })
    }
}

pub async fn fresh_database() -> String {
    crate::tools::testdb::fresh_postgres_url().await
}

/// The value at quantile `p` (0–1) of `values` (nearest rank); 0 when empty.
pub fn percentile<T: Copy + Default + PartialOrd>(values: &[T], p: f64) -> T {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(((v.len() as f64 - 1.0).max(0.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// Poll `condition` every `every` until it holds or `limit` passes; whether it held.
pub async fn wait_until(
    limit: Duration,
    every: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// Prints a line from `what` every `every` until dropped, so a long benchmark or soak shows it
/// is alive and how far along it is.
pub struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    pub fn start(every: Duration, what: impl Fn() -> String + Send + 'static) -> Self {
        let started = Instant::now();
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                println!("  … {:.0} s: {}", started.elapsed().as_secs_f64(), what());
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_takes_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 51);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile::<u64>(&[], 0.5), 0);
    }
}
