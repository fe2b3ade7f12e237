//! The wiring, the one place that reads the whole configuration. [`Application::build`] turns
//! settings into the shared parts ([`parts`]), the checkout service, the jobs and bound
//! listeners (public and admin); [`Application::run_until_stopped`] serves until SIGTERM /
//! ctrl-c and shuts down gracefully. [`once`]: `jobs unredeemed`, the parts without listeners.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware::from_fn, web};
use tokio_util::sync::CancellationToken;

use crate::checkout::catalog::EventCatalog;
use crate::checkout::maintenance::MaintenanceHours;
use crate::checkout::service::{CheckoutService, ServiceConfig};
use crate::config::Settings;
use crate::context::AppContext;
use crate::http::admin::AdminState;
use crate::http::admission::{Admission, Rate};
use crate::http::{self, auth::JwtVerifier, state::AppState};
use crate::jobs::Jobs;
use crate::jobs::worker::{Sweeper, WorkerConfig};
use crate::readiness::Readiness;
use crate::sandbox::SandboxHandle;
use crate::store::Backend;
use crate::store::changes::{self, Change};

/// How long shutdown waits for drivers to reach a point where they can hand back (an upstream
/// request in flight is awaited, within `upstream.timeout_secs`), and then again for the
/// listeners to drain: preStop 5 s + hand-back 25 s + drain 25 s fit the Deployment's 60 s
/// `terminationGracePeriodSeconds` (`tests/deploy/k8s.rs` checks the sum).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

pub mod hardening;
pub mod once;
pub mod parts;

pub use parts::{BuildOptions, Built};

pub struct Application {
    public_port: u16,
    admin_port: u16,
    public: actix_web::dev::Server,
    admin: actix_web::dev::Server,
    pub context: AppContext,
    pub service: Arc<CheckoutService>,
    /// The in-process sandbox, when `upstream.base_url = sandbox`.
    pub sandbox: Option<SandboxHandle>,
    sweeper: Sweeper,
    /// The unredeemed-orders scheduler and webhook delivery.
    pub jobs: Jobs,
    /// `/readyz`'s state, refreshed by a background loop.
    readiness: Arc<Readiness>,
    /// Other replicas' changes, on Postgres.
    changes: Option<ChangeFeed>,
    shutdown: CancellationToken,
    /// Stops the heartbeat, after the checkouts were handed back (see `run_until_stopped`).
    heartbeat_stop: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, options: BuildOptions) -> anyhow::Result<Self> {
        let Built { context, sandbox } = parts::build(&settings, &options).await?;
        context
            .liveness
            .register(&*context.store.renewals.replicas)
            .await?;
        let catalog = EventCatalog::new(
            Duration::from_secs(settings.upstream.event_cache_ttl_secs),
            MaintenanceHours {
                start: settings.maintenance.start_hour,
                end: settings.maintenance.end_hour,
            },
        );
        let service = CheckoutService::new(
            &context,
            catalog,
            ServiceConfig {
                lease: Duration::from_secs(settings.checkout.lease_secs),
                source_account_key: settings.source_account_key.clone(),
                unconfirmed_after: Duration::from_secs(settings.checkout.unconfirmed_after_secs),
                wait_recheck: Duration::from_secs(settings.checkout.wait_recheck_secs),
                notices: settings
                    .unredeemed
                    .webhook
                    .as_ref()
                    .map(|_| settings.unredeemed.retry.retry_for),
                payment_sessions: settings.payment_sessions.clone(),
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
        let readiness = Readiness::new(context.store.admin.clone()).await;
        let idempotency_changed = Arc::new(tokio::sync::Notify::new());
        let changes = (context.store.backend == Backend::Postgres).then(|| ChangeFeed {
            url: settings.database.url.clone(),
            service: service.clone(),
            idempotency_changed: idempotency_changed.clone(),
        });
        // Bound first: the payment page's origin defaults to the public listener's address.
        let public_listener = TcpListener::bind(settings.http.listen)?;
        let public_port = public_listener.local_addr()?.port();
        let hosted = http::hosted::HostedPage::new(
            &settings.hosted_page,
            public_listener.local_addr()?,
            &settings.source_account_key,
        );
        let state = web::Data::new(AppState {
            context: context.clone(),
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
            events: http::rendered::Rendered::new("an event"),
            checkouts: http::rendered::Rendered::new("a checkout"),
            hosted,
        });
        let openapi = http::openapi::document();
        let document = web::Data::new(http::openapi::docs::ApiDocument::new(&openapi)?);
        let public_state = state.clone();
        let route_methods = web::Data::new(http::RouteMethods::of(&openapi));
        let example = example_app(&settings);
        let public = HttpServer::new(move || {
            let state = public_state.clone();
            let (app, _) = http::register(App::new());
            let example = example.clone();
            app.configure(move |cfg| {
                if let Some(example) = example {
                    example(cfg);
                }
            })
            .wrap(from_fn(http::observe))
            .wrap(from_fn(http::request_id))
            .app_data(state.clone())
            .app_data(document.clone())
            .app_data(route_methods.clone())
            .default_service(web::to(http::not_found))
        })
        .listen(public_listener)?
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .disable_signals()
        .run();
        warn_if_admin_exposed(settings.admin.listen);
        let admin_listener = TcpListener::bind(settings.admin.listen)?;
        let admin_port = admin_listener.local_addr()?.port();
        let jobs = Jobs::build(&context, &settings.unredeemed)?;
        let admin_state = state.clone();
        let admin_api = web::Data::new(AdminState {
            token: settings.admin.token.clone(),
            context: context.clone(),
            jobs: jobs.clone(),
        });
        let admin_document = web::Data::new(http::openapi::docs::DocumentJson::new(
            &http::admin::openapi(),
        )?);
        let admin = HttpServer::new(move || {
            // Every route through `register`, which documents each: none is added here.
            let (app, _) = http::admin::register(App::new());
            app.wrap(from_fn(http::request_id))
                .app_data(admin_state.clone())
                .app_data(admin_api.clone())
                .app_data(admin_document.clone())
                .default_service(web::to(http::not_found))
        })
        .listen(admin_listener)?
        .workers(1)
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .disable_signals()
        .run();
        let sweeper = Sweeper {
            context: context.clone(),
            service: service.clone(),
            config: WorkerConfig {
                interval: Duration::from_secs(settings.sweeper.interval_secs),
                abandon_after: Duration::from_secs(settings.checkout.abandon_after_secs),
                batch: 100,
            },
        };
        Ok(Self {
            public_port,
            admin_port,
            public,
            admin,
            context,
            service,
            sandbox,
            sweeper,
            jobs,
            readiness,
            changes,
            shutdown: CancellationToken::new(),
            heartbeat_stop: CancellationToken::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.public_port
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The readiness refresh and the change feed, until shutdown; the heartbeat, until
    /// `heartbeat_stop` (then this replica retires).
    fn spawn_background(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.readiness.clone().run(self.shutdown.clone()));
        if let Some(feed) = &self.changes {
            tokio::spawn(feed.clone().follow(self.shutdown.clone()));
        }
        tokio::spawn(self.context.liveness.clone().run(
            self.context.store.renewals.replicas.clone(),
            self.context.metrics.clone(),
            self.heartbeat_stop.clone(),
        ))
    }

    /// Serve until SIGTERM or ctrl-c, then stop accepting and let in-flight requests finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let heartbeat = self.spawn_background();
        let public = self.public.handle();
        let admin = self.admin.handle();
        let public_task = tokio::spawn(self.public);
        let admin_task = tokio::spawn(self.admin);
        let worker_task = tokio::spawn(self.sweeper.clone().run(self.shutdown.clone()));
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
        // Heartbeats went on while drivers handed back, so nobody took their checkouts over
        // mid-way. With nothing left running, retiring frees this replica's leases at once.
        // With work still running (a call queued for the quota, a slow upstream) it may still
        // send: the heartbeat goes on while the listeners drain, and the leases lapse only
        // `replica.dead_after_secs` after the process is gone and nothing of it can send.
        if still_running > 0 {
            self.context.liveness.keep_leases_on_stop();
            tokio::join!(public.stop(true), admin.stop(true));
        }
        self.heartbeat_stop.cancel();
        let _ = heartbeat.await;
        if still_running == 0 {
            tokio::join!(public.stop(true), admin.stop(true));
        }
        let _ = public_task.await;
        let _ = admin_task.await;
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        self.context.metrics.shutdown();
        tracing::info!(still_running, "stopped");
        Ok(())
    }

    /// Serve in the background (tests, the demo) until the returned [`Running`] is dropped.
    /// The servers are driven by a thread of their own, so they can still be stopped (and
    /// their database pool closed) after the caller's runtime has gone.
    pub fn spawn(self) -> Running {
        drop(self.spawn_background());
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
        tokio::spawn(self.sweeper.clone().run(self.shutdown.clone()));
        self.jobs.spawn(&self.shutdown);
        Running {
            context: self.context,
            service: self.service,
            jobs: self.jobs,
            sandbox: self.sandbox,
            handles,
            shutdown: self.shutdown,
            heartbeat_stop: self.heartbeat_stop,
        }
    }
}

/// An application serving in the background; dropping it stops the servers and the worker.
pub struct Running {
    pub context: AppContext,
    pub service: Arc<CheckoutService>,
    pub jobs: Jobs,
    pub sandbox: Option<SandboxHandle>,
    handles: Vec<actix_web::dev::ServerHandle>,
    shutdown: CancellationToken,
    heartbeat_stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.heartbeat_stop.cancel();
        for handle in &self.handles {
            // The stop command is sent at once; the server thread carries it out.
            drop(handle.stop(false));
        }
    }
}

/// Registers extra routes on the public listener.
type ExtraRoutes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// The example partner app's routes (`/example/`), when `example_app.enabled`: a development
/// tool, compiled only with the `dev-tools` feature (production refuses to enable it).
#[cfg(feature = "dev-tools")]
fn example_app(settings: &Settings) -> Option<ExtraRoutes> {
    use crate::config::UpstreamTarget;
    use http::example::{EventChoice, ExampleApp};
    if !settings.example_app.enabled {
        return None;
    }
    // The sandbox's events are listed; another upstream's are not known in advance (the app
    // then asks for an event id).
    let events = match settings.upstream.target {
        UpstreamTarget::Sandbox => EventChoice::sandbox_catalog(),
        UpstreamTarget::Remote(_) => Vec::new(),
    };
    let app = web::Data::new(ExampleApp::new(settings.auth.clone(), events));
    tracing::info!(
        path = "/example/",
        "serving the example partner app (example_app.enabled)"
    );
    Some(Arc::new(move |cfg| http::example::routes(&app, cfg)))
}

/// A build without the development tools has no example app to serve.
#[cfg(not(feature = "dev-tools"))]
fn example_app(settings: &Settings) -> Option<ExtraRoutes> {
    if settings.example_app.enabled {
        tracing::warn!(
            "example_app.enabled is set, but this build has no example app (built without \
             the `dev-tools` feature): /example/ is not served"
        );
    }
    None
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
            Change::Checkout { id, version } => service.checkout_changed(id, version),
            Change::Idempotency => idempotency_changed.notify_waiters(),
            Change::Heard => service.changes_heard(),
            // Every waiter looks again: what it waits for may have been missed.
            Change::Unheard => {
                service.changes_unheard();
                idempotency_changed.notify_waiters();
            }
        };
        changes::follow(url, on_change, stop, CancellationToken::new()).await;
    }
}
