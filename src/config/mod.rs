//! Typed settings, loaded in layers: `config/base.toml`, `config/{APP_ENV}.toml`, an optional
//! `--config FILE`, then `APP__SECTION__KEY` environment variables. The two shipped files are
//! also compiled in, so the binary starts from any directory. Unknown keys and invalid values
//! fail start-up with the key named; `production` refuses dev secrets, SQLite and the sandbox.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::jobs::delivery::RetryPolicy;
use crate::jobs::schedule::CronSchedule;
use crate::jobs::unredeemed::parse_query;
use crate::jobs::webhook::{WebhookSecret, WebhookTarget};
use crate::sandbox::Dialect;

// Sections whose types belong to the part they configure (each part stays free of `config`).
pub use crate::checkout::payment_session::SessionSettings;
pub use crate::http::auth::AuthSettings;
pub use crate::http::hosted::HostedPageSettings;
pub use crate::jobs::UnredeemedSettings;
pub use crate::telemetry::LogFormat;

mod production;
mod validate;
use validate::validate;

const BASE: &str = include_str!("../../config/base.toml");
const LOCAL: &str = include_str!("../../config/local.toml");
const PRODUCTION: &str = include_str!("../../config/production.toml");

/// Dev-only values shipped in `config/local.toml` and `config/base.toml`.
const DEV_SECRETS: &[&str] = &[
    "dev-only-jwt-secret-not-for-production",
    "dev-only-source-account-key",
    "sandbox-apikey",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Local,
    Production,
}

impl AppEnv {
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s {
            "local" => Ok(Self::Local),
            "production" => Ok(Self::Production),
            other => Err(ConfigError::invalid(
                "APP_ENV",
                format!("`{other}` is neither `local` nor `production`"),
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    fn invalid(key: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Where to load from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub env: AppEnv,
    /// Folder holding `base.toml` and `{env}.toml`; the compiled-in copies are used when a
    /// file is absent.
    pub config_dir: PathBuf,
    /// `--config FILE`.
    pub extra_file: Option<PathBuf>,
    /// Key/value overrides applied last (tests); keys in dotted form, e.g. `http.listen`.
    pub overrides: Vec<(String, String)>,
    /// Read `APP__…` variables from the process environment.
    pub use_process_env: bool,
}

impl LoadOptions {
    /// `APP_ENV` (default `local`), `./config`, the process environment.
    pub fn from_process_env(extra_file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let env = AppEnv::parse(&std::env::var("APP_ENV").unwrap_or_else(|_| "local".into()))?;
        Ok(Self {
            env,
            config_dir: PathBuf::from("config"),
            extra_file,
            overrides: Vec::new(),
            use_process_env: true,
        })
    }

    /// Local settings with overrides only: for tests.
    pub fn local_with(overrides: &[(&str, &str)]) -> Self {
        Self {
            env: AppEnv::Local,
            config_dir: PathBuf::from("config"),
            extra_file: None,
            overrides: overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            use_process_env: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    http: RawHttp,
    admin: RawAdmin,
    database: DatabaseSettings,
    upstream: RawUpstream,
    auth: RawAuth,
    security: RawSecurity,
    checkout: CheckoutSettings,
    sweeper: SweeperSettings,
    replica: ReplicaSettings,
    idempotency: IdempotencySettings,
    maintenance: MaintenanceSettings,
    admission: AdmissionSettings,
    unredeemed: RawUnredeemed,
    hosted_page: RawHostedPage,
    sandbox: RawSandbox,
    log: LogSettings,
    example_app: ExampleAppSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: SocketAddr,
    trusted_proxies: String,
    max_wait_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: SocketAddr,
    token: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout_secs: u64,
    /// Postgres `statement_timeout` of the serving pool (migrations run without one).
    pub statement_timeout_secs: u64,
}

impl DatabaseSettings {
    pub fn connect_options(&self) -> crate::store::ConnectOptions {
        crate::store::ConnectOptions {
            url: self.url.clone(),
            max_connections: self.max_connections,
            acquire_timeout: std::time::Duration::from_secs(self.acquire_timeout_secs),
            statement_timeout: Some(std::time::Duration::from_secs(self.statement_timeout_secs)),
        }
    }

    /// For `migrate`: a long index build must not be cut short by the serving timeout.
    pub fn migration_options(&self) -> crate::store::ConnectOptions {
        crate::store::ConnectOptions {
            statement_timeout: None,
            ..self.connect_options()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    base_url: String,
    apikey: SecretString,
    client_secret: SecretString,
    requests_per_second: f64,
    requests_per_minute: u32,
    requests_per_hour: u32,
    requests_per_day: u32,
    force_polling: bool,
    timeout_secs: u64,
    event_cache_ttl_secs: u64,
    max_waiting_per_user: usize,
    max_waiting_per_lane: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    jwt_hs256_secret: SecretString,
    jwt_rs256_public_key_pem: String,
    jwt_issuer: String,
    jwt_audience: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    source_account_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSettings {
    pub abandon_after_secs: u64,
    pub lease_secs: u64,
    /// A purchase whose answer was lost, with no order found upstream this long after it was
    /// asked for, is `purchase_unconfirmed` (lookups go on).
    pub unconfirmed_after_secs: u64,
    /// A request waiting on a checkout (`Prefer: wait`, a lease to free) is woken by every
    /// change of it; it also re-reads it this often, for a lease that simply lapsed.
    pub wait_recheck_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweeperSettings {
    pub interval_secs: u64,
}

/// Replica liveness: a replica's checkout leases hold while it heartbeats.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSettings {
    pub heartbeat_secs: u64,
    /// A replica without a heartbeat this long (by the database's clock) is dead and its
    /// checkouts are taken over.
    pub dead_after_secs: u64,
}

/// Partner-side request rates, per user and per client address (each replica).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionSettings {
    pub user_requests_per_second: f64,
    pub user_burst: u32,
    pub ip_requests_per_second: f64,
    pub ip_burst: u32,
}

/// The venue's nightly maintenance window, in venue-local hours `[start, end)`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSettings {
    pub start_hour: u32,
    pub end_hour: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    pub ttl_secs: u64,
    /// A key's first request renews its claim while it runs; unrenewed this long, the claim
    /// is a dead process's and a repeat of the same request takes the key over.
    pub takeover_after_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnredeemed {
    enabled: bool,
    schedule: String,
    time_zone: String,
    queries: String,
    lease_secs: u64,
    webhook_url: String,
    webhook_secret: SecretString,
    webhook_timeout_secs: u64,
    retry_initial_ms: u64,
    retry_max_secs: u64,
    retry_for_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostedPage {
    public_base_url: String,
    session_ttl_secs: u64,
    return_urls: ListKey,
    frame_ancestors: ListKey,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    poll_wait_secs: f64,
    force_polling: bool,
    hold_secs: i64,
    requests_per_second: f64,
    dialect: ListKey,
}

/// A list-valued key: a TOML array, or one comma-separated string (the only form an
/// `APP__…` environment variable can give, as for the other list keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a list of strings, or one comma-separated string"
)]
enum ListKey {
    Array(Vec<String>),
    Text(String),
}

impl ListKey {
    /// The non-blank items, trimmed.
    fn items(&self) -> Vec<&str> {
        let items: Vec<&str> = match self {
            Self::Array(items) => items.iter().map(String::as_str).collect(),
            Self::Text(text) => text.split(',').collect(),
        };
        items
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub poll_wait_secs: f64,
    pub force_polling: bool,
    pub hold_secs: i64,
    /// The quota the in-process sandbox enforces (with quota headers); 0 = none.
    pub requests_per_second: f64,
    /// `sandbox.dialect`: how the in-process sandbox reads the points where the docs are
    /// silent or ambiguous.
    pub dialect: Dialect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
    /// OTLP/HTTP traces endpoint; empty = no trace export.
    pub otlp_endpoint: String,
}

impl LogSettings {
    /// The OTLP endpoint, when configured and a valid URL.
    pub fn otlp_endpoint(&self) -> Option<Url> {
        Url::parse(self.otlp_endpoint.trim()).ok()
    }
}

/// The example partner app (`/example/`), a development tool served by `serve`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleAppSettings {
    /// Serve it (builds with the `dev-tools` feature only; refused in production).
    pub enabled: bool,
}

/// The validated settings the application runs on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub env: AppEnv,
    pub http: HttpSettings,
    pub admin: AdminSettings,
    pub database: DatabaseSettings,
    pub upstream: UpstreamConfig,
    pub auth: AuthSettings,
    pub source_account_key: SecretString,
    pub checkout: CheckoutSettings,
    pub sweeper: SweeperSettings,
    pub replica: ReplicaSettings,
    pub idempotency: IdempotencySettings,
    pub maintenance: MaintenanceSettings,
    pub admission: AdmissionSettings,
    pub unredeemed: UnredeemedSettings,
    /// `[hosted_page]`: the page's own part (its origin, who may frame it)…
    pub hosted_page: HostedPageSettings,
    /// …and its sessions' (lifetime, return URLs), for the checkout service.
    pub payment_sessions: SessionSettings,
    pub sandbox: SandboxSettings,
    pub log: LogSettings,
    pub example_app: ExampleAppSettings,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub trusted_proxies: Vec<IpNet>,
    pub max_wait_secs: u64,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    /// `None`: the admin API is off (`/metrics` still served).
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// The built-in sandbox, started in-process.
    Sandbox,
    Remote(Url),
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub target: UpstreamTarget,
    pub apikey: SecretString,
    pub client_secret: Option<SecretString>,
    pub requests_per_second: f64,
    /// Longer quotas of the apikey, if it has them (0 = none).
    pub requests_per_minute: u32,
    pub requests_per_hour: u32,
    pub requests_per_day: u32,
    pub force_polling: bool,
    pub timeout_secs: u64,
    pub event_cache_ttl_secs: u64,
    /// How much waiting a partner's reads (event details, captcha) may cause.
    pub shares: crate::upstream::Shares,
}

impl UpstreamConfig {
    /// The per-minute, per-hour and per-day budgets that are configured.
    pub fn budgets(&self) -> Vec<crate::upstream::Budget> {
        use crate::upstream::Budget;
        const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);
        [
            ("minute", self.requests_per_minute, MINUTE),
            ("hour", self.requests_per_hour, MINUTE * 60),
            ("day", self.requests_per_day, MINUTE * 60 * 24),
        ]
        .into_iter()
        .filter(|(_, requests, _)| *requests > 0)
        .map(|(name, requests, span)| Budget::per(name, requests, span))
        .collect()
    }
}

impl Settings {
    pub fn load(opts: &LoadOptions) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(layer(&opts.config_dir.join("base.toml"), BASE))
            .add_source(layer(
                &opts.config_dir.join(format!("{}.toml", opts.env.name())),
                match opts.env {
                    AppEnv::Local => LOCAL,
                    AppEnv::Production => PRODUCTION,
                },
            ));
        if let Some(file) = &opts.extra_file {
            builder = builder.add_source(config::File::from(file.as_path()).required(true));
        }
        if opts.use_process_env {
            builder = builder.add_source(
                config::Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        for (key, value) in &opts.overrides {
            builder = builder.set_override(key.as_str(), value.as_str())?;
        }
        let raw: Raw = builder.build()?.try_deserialize()?;
        validate(opts.env, raw)
    }

    /// Whether `production` rules apply.
    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }
}

/// The file on disk if present, else the compiled-in copy.
fn layer(
    path: &Path,
    embedded: &'static str,
) -> config::File<config::FileSourceString, config::FileFormat> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| embedded.to_owned());
    config::File::from_str(&text, config::FileFormat::Toml)
}

fn non_empty(secret: SecretString) -> Option<SecretString> {
    (!secret.expose_secret().trim().is_empty()).then_some(secret)
}

#[cfg(test)]
mod tests;
