//! [`Application::build`] turns settings into bound listeners (public and admin), a store, an
//! upstream client (or the in-process sandbox) and the checkout service;
//! [`Application::run_until_stopped`] serves until SIGTERM / ctrl-c and shuts down gracefully.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware::from_fn, web};
use tokio_util::sync::CancellationToken;

use crate::readiness::Readiness;
use crate::store::Backend;
use crate::store::changes::{self, Change};
use url::Url;

use crate::checkout::catalog::EventCatalog;
use crate::checkout::maintenance::MaintenanceHours;
use crate::checkout::service::{CheckoutService, ServiceConfig};
use crate::clock::{OffsetClock, SharedClock};
use crate::config::{Settings, UpstreamTarget};
use crate::http::admin::AdminState;
use crate::http::admission::{Admission, Rate};
use crate::http::{self, auth::JwtVerifier, state::AppState};
use crate::jobs::Jobs;
use crate::jobs::worker::{self, WorkerConfig};
use crate::metrics::Metrics;
use crate::sandbox::{self, SandboxConfig, SandboxHandle};
use crate::store::QuotaStore;
use crate::store::Store;
use crate::upstream::{Budget, PartnerApi, QuotaLimiter, SharedQuota, UpstreamSettings};

/// How long shutdown waits for drivers to reach a point where they can hand back (an upstream
/// request in flight is awaited, within `upstream.timeout_secs`); below Kubernetes' default
/// 30 s termination grace.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// How to start: migrations and an optional clock (tests and the sandbox move time).
#[derive(Clone, Default)]
pub struct BuildOptions {
    pub skip_migrations: bool,
    pub clock: Option<OffsetClock>,
}

pub struct Application {
    public_port: u16,
    admin_port: u16,
    public: actix_web::dev::Server,
    admin: actix_web::dev::Server,
    pub service: Arc<CheckoutService>,
    /// The in-process sandbox, when `upstream.base_url = sandbox`.
    pub sandbox: Option<SandboxHandle>,
    worker: WorkerConfig,
    /// The unredeemed-orders scheduler and webhook delivery.
    pub jobs: Jobs,
    /// `/readyz`'s state, refreshed by a background loop.
    readiness: Arc<Readiness>,
    /// Other replicas' changes, on Postgres.
    changes: Option<ChangeFeed>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, options: BuildOptions) -> anyhow::Result<Self> {
        register_secrets(&settings);
        let clock = options.clock.clone().unwrap_or_default();
        let shared_clock: SharedClock = Arc::new(clock.clone());
        let store = Store::connect_with(&settings.database.connect_options()).await?;
        if !options.skip_migrations {
            store.migrate().await?;
        }
        let (base_url, sandbox) = match &settings.upstream.target {
            UpstreamTarget::Remote(url) => (url.clone(), None),
            UpstreamTarget::Sandbox => {
                let listener = TcpListener::bind("127.0.0.1:0")?;
                let config = SandboxConfig {
                    apikey: secrecy::ExposeSecret::expose_secret(&settings.upstream.apikey)
                        .to_owned(),
                    client_secret: settings
                        .upstream
                        .client_secret
                        .as_ref()
                        .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned()),
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
                    clock: shared_clock.clone(),
                    settable_clock: Some(clock.clone()),
                    ..SandboxConfig::default()
                };
                let handle = sandbox::spawn(config, listener).await?;
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
        let api = Arc::new(PartnerApi::new(
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
        let catalog = EventCatalog::new(
            Duration::from_secs(settings.upstream.event_cache_ttl_secs),
            MaintenanceHours {
                start: settings.maintenance.start_hour,
                end: settings.maintenance.end_hour,
            },
        );
        let service = CheckoutService::new(
            store,
            api,
            catalog,
            shared_clock,
            ServiceConfig {
                lease: Duration::from_secs(settings.checkout.lease_secs),
                replica_id: format!(
                    "{}-{}",
                    hostname(),
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                ),
                source_account_key: settings.source_account_key.clone(),
                unconfirmed_after: Duration::from_secs(settings.checkout.unconfirmed_after_secs),
                notices: settings
                    .unredeemed
                    .webhook
                    .as_ref()
                    .map(|_| settings.unredeemed.retry.retry_for),
            },
        );
        let jwt = JwtVerifier::new(&settings.auth).map_err(anyhow::Error::msg)?;
        let limits = settings.admission;
        let admission = Admission::new(
            Rate {
                per_second: limits.user_requests_per_second,
                burst: limits.user_burst,
            },
            Rate {
                per_second: limits.ip_requests_per_second,
                burst: limits.ip_burst,
            },
        );
        let readiness = Readiness::new(service.store.admin.clone()).await;
        let idempotency_changed = Arc::new(tokio::sync::Notify::new());
        let changes = (service.store.backend == Backend::Postgres).then(|| ChangeFeed {
            url: settings.database.url.clone(),
            service: service.clone(),
            idempotency_changed: idempotency_changed.clone(),
        });
        let state = web::Data::new(AppState {
            idempotency_changed,
            readiness: readiness.clone(),
            service: service.clone(),
            jwt,
            admission,
            trusted_proxies: settings.http.trusted_proxies.clone(),
            max_wait: Duration::from_secs(settings.http.max_wait_secs),
            idempotency_ttl: chrono::TimeDelta::seconds(settings.idempotency.ttl_secs as i64),
            idempotency_takeover_after: Duration::from_secs(
                settings.idempotency.takeover_after_secs,
            ),
            fingerprint_key: settings.source_account_key.clone(),
            payment_fingerprint_key: http::idempotency::payment_fingerprint_key(
                &settings.source_account_key,
            ),
            events: http::events::RenderedEvents::default(),
        });
        let public_listener = TcpListener::bind(settings.http.listen)?;
        let public_port = public_listener.local_addr()?.port();
        let document = web::Data::new(http::openapi::docs::ApiDocument::new(
            &http::openapi::document(),
        )?);
        let public_state = state.clone();
        let public = HttpServer::new(move || {
            let state = public_state.clone();
            let (app, _) = http::register(App::new());
            app.wrap(from_fn(http::observe))
                .wrap(from_fn(http::request_id))
                .app_data(state.clone())
                .app_data(document.clone())
                .default_service(web::to(http::not_found))
        })
        .listen(public_listener)?
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .disable_signals()
        .run();
        warn_if_admin_exposed(settings.admin.listen);
        let admin_listener = TcpListener::bind(settings.admin.listen)?;
        let admin_port = admin_listener.local_addr()?.port();
        let jobs = Jobs::build(service.clone(), &settings.unredeemed, service.replica_id())?;
        let admin_state = state.clone();
        let admin_api = web::Data::new(AdminState {
            token: settings.admin.token.clone(),
            service: service.clone(),
            jobs: jobs.clone(),
        });
        let admin = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(http::request_id))
                .app_data(admin_state.clone())
                .app_data(admin_api.clone())
                .configure(http::admin::routes)
                .route("/healthz", web::get().to(|| async { "ok" }))
                .configure(http::scrape::routes)
                .default_service(web::to(http::not_found))
        })
        .listen(admin_listener)?
        .workers(1)
        .disable_signals()
        .run();
        let worker = WorkerConfig {
            interval: Duration::from_secs(settings.sweeper.interval_secs),
            abandon_after: Duration::from_secs(settings.checkout.abandon_after_secs),
            batch: 100,
        };
        Ok(Self {
            public_port,
            admin_port,
            public,
            admin,
            service,
            sandbox,
            worker,
            jobs,
            readiness,
            changes,
            shutdown: CancellationToken::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.public_port
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The readiness refresh and the change feed, until shutdown.
    fn spawn_background(&self) {
        tokio::spawn(self.readiness.clone().run(self.shutdown.clone()));
        if let Some(feed) = &self.changes {
            tokio::spawn(feed.clone().follow(self.shutdown.clone()));
        }
    }

    /// Serve until SIGTERM or ctrl-c, then stop accepting and let in-flight requests finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.spawn_background();
        let public = self.public.handle();
        let admin = self.admin.handle();
        let public_task = tokio::spawn(self.public);
        let admin_task = tokio::spawn(self.admin);
        let worker_task = tokio::spawn(worker::run(
            self.service.clone(),
            self.worker.clone(),
            self.shutdown.clone(),
        ));
        let job_tasks = self.jobs.spawn(&self.shutdown);
        shutdown_signal().await;
        tracing::info!("shutting down: handing back checkouts, draining requests");
        // The sweeper takes nothing new; readiness turns false; drivers hand their checkouts
        // back at their next persisted point; requests waiting on a checkout answer with
        // where it stands. Then the listeners drain, and telemetry is flushed last.
        // (Kubernetes' preStop delay has taken the pod out of the Service by now.)
        self.shutdown.cancel();
        let _ = worker_task.await;
        for task in job_tasks {
            let _ = task.await;
        }
        // Hand back before the listeners stop: database connections opened on an HTTP
        // worker's runtime die with it, and drivers still need them to release their leases.
        let still_running = self.service.hand_back(SHUTDOWN_GRACE).await;
        public.stop(true).await;
        admin.stop(true).await;
        let _ = public_task.await;
        let _ = admin_task.await;
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        self.service.api.metrics().shutdown();
        tracing::info!(still_running, "stopped");
        Ok(())
    }

    /// Serve in the background (tests, the demo) until the returned [`Running`] is dropped.
    /// The servers are driven by a thread of their own, so they can still be stopped (and
    /// their database pool closed) after the caller's runtime has gone.
    pub fn spawn(self) -> Running {
        self.spawn_background();
        let handles = vec![self.public.handle(), self.admin.handle()];
        let (public, admin) = (self.public, self.admin);
        let driver = std::thread::Builder::new()
            .name("gateway-servers".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        let _ = tokio::join!(public, admin);
                    });
                }
            });
        if let Err(e) = driver {
            tracing::error!(error = %e, "could not start the server thread");
        }
        tokio::spawn(worker::run(
            self.service.clone(),
            self.worker.clone(),
            self.shutdown.clone(),
        ));
        self.jobs.spawn(&self.shutdown);
        Running {
            service: self.service,
            jobs: self.jobs,
            sandbox: self.sandbox,
            handles,
            shutdown: self.shutdown,
        }
    }
}

/// An application serving in the background; dropping it stops the servers and the worker.
pub struct Running {
    pub service: Arc<CheckoutService>,
    pub jobs: Jobs,
    pub sandbox: Option<SandboxHandle>,
    handles: Vec<actix_web::dev::ServerHandle>,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for handle in &self.handles {
            // The stop command is sent at once; the server thread carries it out.
            drop(handle.stop(false));
        }
    }
}

/// The store's slot log as the limiter's deployment-wide quota. Real time, not the injectable
/// clock: upstream counts real seconds.
struct StoreQuota(Arc<dyn QuotaStore>);

#[async_trait::async_trait]
impl SharedQuota for StoreQuota {
    async fn claim(&self, budget: &Budget, window: Duration) -> Result<Option<Duration>, String> {
        let now = chrono::Utc::now();
        let window = chrono::TimeDelta::from_std(window).map_err(|e| e.to_string())?;
        let capacity = u32::try_from(budget.capacity).unwrap_or(u32::MAX);
        match self.0.claim_send(budget.name, capacity, now, window).await {
            Ok(None) => Ok(None),
            Ok(Some(free_at)) => Ok(Some((free_at - now).to_std().unwrap_or_default())),
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

/// The admin listener serves `/metrics` to anyone and `/admin/*` to the token's holder; by
/// default it binds to loopback. Bound wider (a pod network, behind a NetworkPolicy), it is
/// allowed but said at start, so an address widened by mistake does not go unnoticed.
fn warn_if_admin_exposed(listen: std::net::SocketAddr) -> bool {
    let exposed = !listen.ip().is_loopback();
    if exposed {
        tracing::warn!(
            admin_listen = %listen,
            "the admin listener (/metrics, /admin/*) is not on loopback: make sure only \
             operators and monitoring can reach it (network policy, firewall)"
        );
    }
    exposed
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_loopback_admin_listener_is_warned_about() {
        for quiet in ["127.0.0.1:9090", "[::1]:9090", "127.0.0.1:0"] {
            assert!(!warn_if_admin_exposed(quiet.parse().unwrap()), "{quiet}");
        }
        for exposed in ["0.0.0.0:9090", "[::]:9090", "10.1.2.3:9090"] {
            assert!(warn_if_admin_exposed(exposed.parse().unwrap()), "{exposed}");
        }
    }
}

/// Where other replicas' changes are announced (Postgres `LISTEN`) and whom they wake.
#[derive(Clone)]
struct ChangeFeed {
    url: String,
    service: Arc<CheckoutService>,
    idempotency_changed: Arc<tokio::sync::Notify>,
}

impl ChangeFeed {
    async fn follow(self, stop: CancellationToken) {
        let Self {
            url,
            service,
            idempotency_changed,
        } = self;
        let on_change = move |change| match change {
            Change::Checkout(id) => service.checkout_changed(id),
            Change::Idempotency => idempotency_changed.notify_waiters(),
        };
        changes::follow(url, on_change, stop, CancellationToken::new()).await;
    }
}
