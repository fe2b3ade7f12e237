//! Building the [`AppContext`] from the settings: the store (connected, migrated), the
//! in-process sandbox when `upstream.base_url = sandbox`, the quota limiter and the upstream
//! client. No listener is bound here: `serve` adds the HTTP servers, `jobs unredeemed` does not.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use url::Url;

use crate::clock::{OffsetClock, SharedClock};
use crate::config::{Settings, UpstreamTarget};
use crate::context::AppContext;
use crate::liveness::{Liveness, LivenessConfig};
use crate::metrics::Metrics;
use crate::sandbox::{self, SandboxConfig, SandboxHandle};
use crate::store::{Claimed, QuotaStore, SendClaim, Store};
use crate::upstream::{
    Budget, PartnerApi, QuotaLimiter, SharedAnswer, SharedQuota, UpstreamSettings,
};

/// How to start: migrations and an optional clock (tests and the sandbox move time).
#[derive(Clone, Default)]
pub struct BuildOptions {
    pub skip_migrations: bool,
    pub clock: Option<OffsetClock>,
}

/// A built context and, when upstream is the in-process sandbox, the sandbox (stopped last).
pub struct Built {
    pub context: AppContext,
    pub sandbox: Option<SandboxHandle>,
}

/// Connects (and migrates) the store, starts the in-process sandbox when configured, and
/// builds the upstream client with its quota; binds no listener.
pub async fn build(settings: &Settings, options: &BuildOptions) -> anyhow::Result<Built> {
    register_secrets(settings);
    let clock = options.clock.clone().unwrap_or_default();
    let shared_clock: SharedClock = Arc::new(clock.clone());
    let store = Store::connect_with(&settings.database.connect_options()).await?;
    if !options.skip_migrations {
        store.migrate().await?;
    }
    let (base_url, sandbox) = match &settings.upstream.target {
        UpstreamTarget::Remote(url) => (url.clone(), None),
        UpstreamTarget::Sandbox => {
            let handle = spawn_sandbox(settings, &clock).await?;
            (Url::parse(&handle.base_url())?, Some(handle))
        }
    };
    let metrics = Arc::new(Metrics::new());
    metrics.quota_limit(settings.upstream.requests_per_second);
    let limiter = Arc::new(
        QuotaLimiter::new(settings.upstream.requests_per_second)
            .with_budgets(settings.upstream.budgets())
            .with_shares(settings.upstream.shares)
            .shared_with(Arc::new(StoreQuota(store.quota.clone()))),
    );
    let upstream = Arc::new(PartnerApi::new(
        UpstreamSettings {
            base_url,
            apikey: settings.upstream.apikey.clone(),
            client_secret: settings.upstream.client_secret.clone(),
            force_polling: settings.upstream.force_polling,
            timeout: Duration::from_secs(settings.upstream.timeout_secs),
        },
        limiter,
        metrics.clone(),
    )?);
    let context = AppContext {
        store,
        upstream,
        metrics,
        clock: shared_clock,
        // A restarted process is a new replica: the leases of the one it replaces are taken
        // over once that one's heartbeat is found stale, by whichever replica looks first.
        liveness: Liveness::new(
            format!(
                "{}-{}",
                hostname(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            LivenessConfig {
                heartbeat: Duration::from_secs(settings.replica.heartbeat_secs),
                dead_after: Duration::from_secs(settings.replica.dead_after_secs),
            },
        ),
        notices_queued: Arc::new(Notify::new()),
    };
    Ok(Built { context, sandbox })
}

/// The in-process sandbox on a free loopback port, configured from the gateway's settings.
async fn spawn_sandbox(settings: &Settings, clock: &OffsetClock) -> anyhow::Result<SandboxHandle> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let config = SandboxConfig {
        // A gateway configured for OAuth gets a sandbox that insists on it.
        require_oauth: settings.upstream.client_secret.is_some(),
        maintenance: (
            settings.maintenance.start_hour,
            settings.maintenance.end_hour,
        ),
        force_polling: settings.sandbox.force_polling,
        poll_wait_secs: settings.sandbox.poll_wait_secs,
        hold_secs: settings.sandbox.hold_secs,
        requests_per_second: (settings.sandbox.requests_per_second > 0.0)
            .then_some(settings.sandbox.requests_per_second),
        dialect: settings.sandbox.dialect,
        clock: Arc::new(clock.clone()),
        settable_clock: Some(clock.clone()),
        ..sandbox_for(settings)
    };
    Ok(sandbox::spawn(config, listener).await?)
}

/// A sandbox that accepts this gateway's credentials (its apikey, and its OAuth client
/// secret when set); every other setting its default.
pub fn sandbox_for(settings: &Settings) -> SandboxConfig {
    use secrecy::ExposeSecret;
    SandboxConfig {
        apikey: settings.upstream.apikey.expose_secret().to_owned(),
        client_secret: settings
            .upstream
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
        ..SandboxConfig::default()
    }
}

/// The store's slot log as the limiter's deployment-wide quota. Real time, not the injectable
/// clock: upstream counts real seconds.
struct StoreQuota(Arc<dyn QuotaStore>);

#[async_trait::async_trait]
impl SharedQuota for StoreQuota {
    async fn claim(
        &self,
        budget: &Budget,
        window: Duration,
        sends: u32,
    ) -> Result<SharedAnswer, String> {
        let now = chrono::Utc::now();
        let ask = SendClaim {
            budget: budget.name,
            capacity: u32::try_from(budget.capacity).unwrap_or(u32::MAX),
            now,
            window: chrono::TimeDelta::from_std(window).map_err(|e| e.to_string())?,
            sends,
        };
        match self.0.claim_send(&ask).await {
            Ok(Claimed::Granted(sends)) => Ok(SharedAnswer::Granted(sends)),
            Ok(Claimed::FullUntil(free_at)) => Ok(SharedAnswer::Full(
                (free_at - now).to_std().unwrap_or_default(),
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Every configured secret is masked in log lines from now on (see `telemetry::redact`).
fn register_secrets(settings: &Settings) {
    use secrecy::ExposeSecret;
    let secrets = [
        Some(&settings.upstream.apikey),
        settings.upstream.client_secret.as_ref(),
        settings.auth.jwt_hs256_secret.as_ref(),
        Some(&settings.source_account_key),
        settings.admin.token.as_ref(),
    ];
    for secret in secrets.into_iter().flatten() {
        crate::telemetry::redact::register_secret(secret.expose_secret());
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into())
}
