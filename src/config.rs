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
use crate::upstream::UnredeemedQuery;

const BASE: &str = include_str!("../config/base.toml");
const LOCAL: &str = include_str!("../config/local.toml");
const PRODUCTION: &str = include_str!("../config/production.toml");

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
    idempotency: IdempotencySettings,
    maintenance: MaintenanceSettings,
    admission: AdmissionSettings,
    unredeemed: RawUnredeemed,
    sandbox: SandboxSettings,
    log: LogSettings,
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
}

impl DatabaseSettings {
    pub fn connect_options(&self) -> crate::store::ConnectOptions {
        crate::store::ConnectOptions {
            url: self.url.clone(),
            max_connections: self.max_connections,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    jwt_hs256_secret: SecretString,
    jwt_rs256_public_key_pem: String,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweeperSettings {
    pub interval_secs: u64,
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
pub struct SandboxSettings {
    pub poll_wait_secs: f64,
    pub force_polling: bool,
    pub hold_secs: i64,
    /// The quota the in-process sandbox enforces (with `Rate-Limit*` headers); 0 = none.
    pub requests_per_second: f64,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
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
    pub idempotency: IdempotencySettings,
    pub maintenance: MaintenanceSettings,
    pub admission: AdmissionSettings,
    pub unredeemed: UnredeemedSettings,
    pub sandbox: SandboxSettings,
    pub log: LogSettings,
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

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwt_hs256_secret: Option<SecretString>,
    pub jwt_rs256_public_key_pem: Option<String>,
}

/// The unredeemed-orders job and its webhook.
#[derive(Debug, Clone)]
pub struct UnredeemedSettings {
    /// `false`: the schedule never fires (manual runs still work).
    pub enabled: bool,
    pub schedule: CronSchedule,
    pub queries: Vec<UnredeemedQuery>,
    /// How long a run's claim holds without renewal (a dead runner's run is taken over then).
    pub lease: Duration,
    /// `None`: findings are recorded and reported, not delivered.
    pub webhook: Option<WebhookTarget>,
    pub retry: RetryPolicy,
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

fn validate(env: AppEnv, raw: Raw) -> Result<Settings, ConfigError> {
    let trusted_proxies = raw
        .http
        .trusted_proxies
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::invalid("http.trusted_proxies", format!("`{s}` is not a CIDR"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if raw.http.max_wait_secs > 120 {
        return Err(ConfigError::invalid("http.max_wait_secs", "at most 120"));
    }
    let target = match raw.upstream.base_url.trim() {
        "sandbox" => UpstreamTarget::Sandbox,
        other => {
            let url = Url::parse(other)
                .map_err(|e| ConfigError::invalid("upstream.base_url", e.to_string()))?;
            let allowed =
                url.scheme() == "https" || (url.scheme() == "http" && env == AppEnv::Local);
            if !allowed {
                return Err(ConfigError::invalid(
                    "upstream.base_url",
                    "must be https (plain http only outside production)",
                ));
            }
            UpstreamTarget::Remote(url)
        }
    };
    let rps = raw.upstream.requests_per_second;
    if !(rps.is_finite() && rps >= 1.0) {
        return Err(ConfigError::invalid(
            "upstream.requests_per_second",
            "must be a number ≥ 1",
        ));
    }
    if raw.database.max_connections == 0 {
        return Err(ConfigError::invalid(
            "database.max_connections",
            "must be > 0",
        ));
    }
    if raw.upstream.timeout_secs == 0 {
        return Err(ConfigError::invalid("upstream.timeout_secs", "must be > 0"));
    }
    if raw.checkout.lease_secs < 2 {
        return Err(ConfigError::invalid("checkout.lease_secs", "must be ≥ 2"));
    }
    if !(60..=7 * 86_400).contains(&raw.idempotency.ttl_secs) {
        return Err(ConfigError::invalid(
            "idempotency.ttl_secs",
            "between 60 s and 7 days",
        ));
    }
    for (key, hour) in [
        ("maintenance.start_hour", raw.maintenance.start_hour),
        ("maintenance.end_hour", raw.maintenance.end_hour),
    ] {
        if hour > 23 {
            return Err(ConfigError::invalid(key, "an hour of the day, 0–23"));
        }
    }
    if raw.maintenance.start_hour == raw.maintenance.end_hour {
        return Err(ConfigError::invalid(
            "maintenance.end_hour",
            "must differ from start_hour",
        ));
    }
    let a = &raw.admission;
    for (key, rate) in [
        (
            "admission.user_requests_per_second",
            a.user_requests_per_second,
        ),
        ("admission.ip_requests_per_second", a.ip_requests_per_second),
    ] {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ConfigError::invalid(key, "must be a number > 0"));
        }
    }
    for (key, burst) in [
        ("admission.user_burst", a.user_burst),
        ("admission.ip_burst", a.ip_burst),
    ] {
        if burst == 0 {
            return Err(ConfigError::invalid(key, "must be ≥ 1"));
        }
    }
    if raw.sweeper.interval_secs == 0 {
        return Err(ConfigError::invalid("sweeper.interval_secs", "must be > 0"));
    }
    let otlp = raw.log.otlp_endpoint.trim();
    if !otlp.is_empty() {
        Url::parse(otlp).map_err(|e| ConfigError::invalid("log.otlp_endpoint", e.to_string()))?;
    }
    if !(raw.sandbox.requests_per_second.is_finite() && raw.sandbox.requests_per_second >= 0.0) {
        return Err(ConfigError::invalid(
            "sandbox.requests_per_second",
            "must be ≥ 0 (0 = no quota)",
        ));
    }
    if !(raw.sandbox.poll_wait_secs.is_finite() && raw.sandbox.poll_wait_secs >= 0.0) {
        return Err(ConfigError::invalid(
            "sandbox.poll_wait_secs",
            "must be ≥ 0",
        ));
    }
    let unredeemed = unredeemed_settings(env, &raw.unredeemed)?;
    let rs256 = Some(raw.auth.jwt_rs256_public_key_pem.trim().to_owned()).filter(|s| !s.is_empty());
    let settings = Settings {
        env,
        http: HttpSettings {
            listen: raw.http.listen,
            trusted_proxies,
            max_wait_secs: raw.http.max_wait_secs,
        },
        admin: AdminSettings {
            listen: raw.admin.listen,
            token: non_empty(raw.admin.token),
        },
        database: raw.database,
        upstream: UpstreamConfig {
            target,
            apikey: raw.upstream.apikey,
            client_secret: non_empty(raw.upstream.client_secret),
            requests_per_second: rps,
            requests_per_minute: raw.upstream.requests_per_minute,
            requests_per_hour: raw.upstream.requests_per_hour,
            requests_per_day: raw.upstream.requests_per_day,
            force_polling: raw.upstream.force_polling,
            timeout_secs: raw.upstream.timeout_secs,
            event_cache_ttl_secs: raw.upstream.event_cache_ttl_secs,
        },
        auth: AuthSettings {
            jwt_hs256_secret: non_empty(raw.auth.jwt_hs256_secret),
            jwt_rs256_public_key_pem: rs256,
        },
        source_account_key: raw.security.source_account_key,
        checkout: raw.checkout,
        sweeper: raw.sweeper,
        idempotency: raw.idempotency,
        maintenance: raw.maintenance,
        admission: raw.admission,
        unredeemed,
        sandbox: raw.sandbox,
        log: raw.log,
    };
    if settings.auth.jwt_hs256_secret.is_none() && settings.auth.jwt_rs256_public_key_pem.is_none()
    {
        return Err(ConfigError::invalid(
            "auth.jwt_hs256_secret",
            "set it (or auth.jwt_rs256_public_key_pem): no user token could be verified",
        ));
    }
    if settings.source_account_key.expose_secret().is_empty() {
        return Err(ConfigError::invalid(
            "security.source_account_key",
            "must be set",
        ));
    }
    if env == AppEnv::Production {
        production_rules(&settings)?;
    }
    Ok(settings)
}

fn unredeemed_settings(
    env: AppEnv,
    raw: &RawUnredeemed,
) -> Result<UnredeemedSettings, ConfigError> {
    let zone: chrono_tz::Tz = raw.time_zone.trim().parse().map_err(|_| {
        ConfigError::invalid(
            "unredeemed.time_zone",
            "an IANA time zone, e.g. UTC or Europe/Berlin",
        )
    })?;
    let schedule = CronSchedule::parse(&raw.schedule, zone)
        .map_err(|e| ConfigError::invalid("unredeemed.schedule", e.to_string()))?;
    let queries = raw
        .queries
        .split(',')
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| {
            parse_query(q).ok_or_else(|| {
                ConfigError::invalid(
                    "unredeemed.queries",
                    format!("`{q}` is not days_from_purchase=N or days_before_event=N"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if queries.is_empty() {
        return Err(ConfigError::invalid(
            "unredeemed.queries",
            "at least one query",
        ));
    }
    if raw.lease_secs < 2 {
        return Err(ConfigError::invalid("unredeemed.lease_secs", "must be ≥ 2"));
    }
    if raw.webhook_timeout_secs == 0 {
        return Err(ConfigError::invalid(
            "unredeemed.webhook_timeout_secs",
            "must be > 0",
        ));
    }
    if raw.retry_initial_ms == 0 {
        return Err(ConfigError::invalid(
            "unredeemed.retry_initial_ms",
            "must be > 0",
        ));
    }
    let webhook = match raw.webhook_url.trim() {
        "" => None,
        s => {
            let url = Url::parse(s)
                .map_err(|e| ConfigError::invalid("unredeemed.webhook_url", e.to_string()))?;
            let allowed =
                url.scheme() == "https" || (url.scheme() == "http" && env == AppEnv::Local);
            if !allowed {
                return Err(ConfigError::invalid(
                    "unredeemed.webhook_url",
                    "must be https (plain http only outside production)",
                ));
            }
            let secret = WebhookSecret::parse(raw.webhook_secret.expose_secret())
                .map_err(|e| ConfigError::invalid("unredeemed.webhook_secret", e.to_string()))?;
            Some(WebhookTarget {
                url,
                secret,
                timeout: Duration::from_secs(raw.webhook_timeout_secs),
            })
        }
    };
    Ok(UnredeemedSettings {
        enabled: raw.enabled,
        schedule,
        queries,
        lease: Duration::from_secs(raw.lease_secs),
        webhook,
        retry: RetryPolicy {
            initial: Duration::from_millis(raw.retry_initial_ms),
            max: Duration::from_secs(raw.retry_max_secs.max(1)),
            retry_for: Duration::from_secs(raw.retry_for_secs),
        },
    })
}

fn production_rules(s: &Settings) -> Result<(), ConfigError> {
    let is_dev = |secret: &SecretString| DEV_SECRETS.contains(&secret.expose_secret());
    if s.auth.jwt_hs256_secret.as_ref().is_some_and(is_dev) {
        return Err(ConfigError::invalid(
            "auth.jwt_hs256_secret",
            "a dev secret in production",
        ));
    }
    if is_dev(&s.source_account_key) {
        return Err(ConfigError::invalid(
            "security.source_account_key",
            "a dev secret in production",
        ));
    }
    if is_dev(&s.upstream.apikey) {
        return Err(ConfigError::invalid(
            "upstream.apikey",
            "the sandbox key in production",
        ));
    }
    if s.upstream.target == UpstreamTarget::Sandbox {
        return Err(ConfigError::invalid(
            "upstream.base_url",
            "the sandbox in production",
        ));
    }
    if s.database.url.starts_with("sqlite:") {
        return Err(ConfigError::invalid(
            "database.url",
            "SQLite in production; use postgres://",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(&LoadOptions::local_with(overrides))
    }

    fn production(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut opts = LoadOptions::local_with(overrides);
        opts.env = AppEnv::Production;
        Settings::load(&opts)
    }

    #[test]
    fn local_defaults_load() {
        let s = load(&[]).unwrap();
        assert_eq!(s.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.upstream.target, UpstreamTarget::Sandbox);
        assert_eq!(s.upstream.requests_per_second, 5.0);
        assert!(s.admin.token.is_none());
        assert_eq!(s.checkout.abandon_after_secs, 600);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = load(&[("http.listne", "127.0.0.1:1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listne"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let err = load(&[("http.listen", "nope")]).unwrap_err().to_string();
        assert!(
            err.contains("http.listen") || err.contains("listen"),
            "{err}"
        );
        let err = load(&[("upstream.requests_per_second", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("upstream.requests_per_second"), "{err}");
        let err = load(&[("http.trusted_proxies", "10.0.0.0/8, bogus")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.trusted_proxies"), "{err}");
    }

    #[test]
    fn maintenance_hours_are_checked() {
        let err = load(&[("maintenance.start_hour", "24")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("maintenance.start_hour"), "{err}");
        let err = load(&[("maintenance.end_hour", "2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("maintenance.end_hour"), "{err}");
        assert!(
            load(&[
                ("maintenance.start_hour", "0"),
                ("maintenance.end_hour", "2")
            ])
            .is_ok()
        );
    }

    #[test]
    fn unredeemed_settings_parse_and_name_their_key() {
        let s = load(&[
            ("unredeemed.time_zone", "America/New_York"),
            (
                "unredeemed.queries",
                "days_from_purchase=1, days_before_event=3",
            ),
            ("unredeemed.webhook_url", "http://127.0.0.1:1/hook"),
            (
                "unredeemed.webhook_secret",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ])
        .unwrap();
        assert_eq!(s.unredeemed.schedule.zone(), chrono_tz::America::New_York);
        assert_eq!(
            s.unredeemed.queries,
            [
                UnredeemedQuery::DaysFromPurchase(1),
                UnredeemedQuery::DaysBeforeEvent(3)
            ]
        );
        assert!(s.unredeemed.webhook.is_some());
        for (key, bad) in [
            ("unredeemed.schedule", "0 9 * * *"),
            ("unredeemed.time_zone", "Mars/Olympus"),
            ("unredeemed.queries", "weeks=2"),
            ("unredeemed.webhook_url", "not a url"),
        ] {
            let err = load(&[(key, bad)]).unwrap_err().to_string();
            assert!(err.contains(key), "{key}={bad}: {err}");
        }
        // A webhook without a (valid) secret could not be verified by its receiver.
        let err = load(&[("unredeemed.webhook_url", "http://127.0.0.1:1/hook")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unredeemed.webhook_secret"), "{err}");
    }

    #[test]
    fn decimal_quota_and_proxies_parse() {
        let s = load(&[
            ("upstream.requests_per_second", "4.5"),
            ("http.trusted_proxies", "10.0.0.0/8,192.168.1.1"),
        ])
        .unwrap();
        assert_eq!(s.upstream.requests_per_second, 4.5);
        assert!(
            s.upstream.budgets().is_empty(),
            "no longer budgets by default"
        );
        assert_eq!(s.http.trusted_proxies.len(), 2);
    }

    #[test]
    fn production_refuses_dev_secrets_sqlite_and_the_sandbox() {
        let good = [
            ("auth.jwt_hs256_secret", "a-real-secret-of-some-length"),
            ("security.source_account_key", "another-real-secret"),
            ("upstream.apikey", "real-key"),
            (
                "upstream.base_url",
                "https://app.ticketmaster.com/partners/v1",
            ),
            ("database.url", "postgres://db/gateway"),
        ];
        assert!(production(&good).is_ok());
        for (key, bad) in [
            (
                "auth.jwt_hs256_secret",
                "dev-only-jwt-secret-not-for-production",
            ),
            ("security.source_account_key", "dev-only-source-account-key"),
            ("upstream.apikey", "sandbox-apikey"),
            ("upstream.base_url", "sandbox"),
            ("upstream.base_url", "http://plain.example/partners/v1"),
            ("database.url", "sqlite://data/gateway.db"),
        ] {
            let mut o = good.to_vec();
            o.retain(|(k, _)| *k != key);
            o.push((key, bad));
            let err = production(&o).unwrap_err().to_string();
            assert!(err.contains(key), "{key}={bad}: {err}");
        }
    }
}
