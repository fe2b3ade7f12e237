//! The built-in Partner-API sandbox: a real HTTP server (actix-web) that behaves as the seed docs
//! and FAQ describe the Ticketmaster Partner API — apikey and OAuth, per-apikey quota with
//! `Rate-Limit*` headers, captcha → cart → reserve → certificate → payment → purchase, 202
//! polling, one update per cart at a time, holds that expire, nightly maintenance, unredeemed
//! orders — and counts what clients do wrong ([`SandboxStats`]).
//!
//! It answers with the same wire types the client parses ([`crate::upstream::wire`]), and both
//! are pinned by `tests/fixtures/upstream/*.json`.
//!
//! # Layout
//! - `mod.rs` (this file): [`SandboxConfig`], [`spawn`], [`run_standalone`], [`SandboxHandle`].
//! - `routes`: the URL map (both `/partners/v1` and `/partners-sandbox/v1`, `/_sandbox/`).
//! - `gate`: apikey, quota, OAuth and `True-Client-IP` admission of every call.
//! - `cart`: captcha, cart session, reserve, delete. `payment`: certificate and payment.
//!   `purchase`: purchase and unredeemed orders. `oauth`: access tokens.
//! - `polling`: deferred answers, newest-url tracking, early/stale poll counting.
//! - `state`: the one `Mutex`-protected state, seat inventory, carts, orders.
//! - `catalog`: event, ticket and seat-layout types; `events`: the fixed events.
//!   `certificate`: key, X.509 certificate, field decryption.
//! - `reply`: answers and every error body. `ids`: generated identifiers. `admin`: `/_sandbox/`.
//! - [`dialect`]: the switches for the points where the docs are silent or ambiguous
//!   ([`Dialect`]); `reshape`: the answers' JSON shapes they change.
//! - `faults` (and `fault_spec`, its text and JSON forms): injected upstream failures ([`Fault`]: status, latency, drop after commit, rate
//!   limit), planned by [`SandboxConfig::faults`], [`SandboxHandle::inject`] or
//!   `POST /_sandbox/faults`, applied by the gate.
//!
//! # Conventions where the docs are silent
//! Where the docs allow more than one reading, the sandbox acts out each, chosen by a switch of
//! its [`Dialect`] (module [`dialect`], which lists them: DELETE of a purchased or unknown cart,
//! the unredeemed-orders day windows, the status of a failed final poll, polling of the calls
//! marked "Polling: No", JSON types of `expires_in` and `hold_time`, optional fields, the stale
//! certificate refusal, the certificate key's size, 5xx bodies, quota header names, the captcha
//! page's caching). The default is the most literal reading; set it with
//! [`SandboxConfig::dialect`], `--dialect`, `sandbox.dialect` or `POST /_sandbox/dialect`.
//!
//! Fixed conventions, see the `//!` docs of each module; the main ones: a raw `+` in a query
//! string decodes to a space (form decoding), so a cart id that was not url-encoded is "not
//! found"; validation errors are answered at once even when polling is forced, only the
//! operation's own outcome goes through polling.

mod admin;
mod cart;
pub mod catalog;
mod certificate;
pub mod dialect;
mod events;
mod fault_spec;
mod faults;
mod gate;
mod ids;
mod oauth;
mod payment;
mod polling;
mod purchase;
mod reply;
mod reshape;
mod routes;
mod state;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};

use crate::clock::{OffsetClock, SharedClock};
use certificate::CertState;
pub use dialect::{Dialect, DialectError};
pub use fault_spec::FaultError;
pub use faults::{Fault, FaultKind, Operation};
use state::Shared;

/// How the sandbox behaves. Build with `..SandboxConfig::default()`.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The one valid apikey (query parameter `apikey`).
    pub apikey: String,
    /// `Some` enables `POST /oauth/accesstoken` with Basic `apikey:client_secret`.
    pub client_secret: Option<String>,
    /// Every call except `/oauth/accesstoken` needs `Authorization: Bearer <valid token>`.
    pub require_oauth: bool,
    /// Ticketing and polling calls without `True-Client-IP` are refused (400 code 10002).
    pub require_true_client_ip: bool,
    /// Answer every polling-enabled call with 202, not only when `X-TM-FORCE-POLLING: true`.
    pub force_polling: bool,
    /// The `wait` of polling responses, in seconds (the docs say generally 4).
    pub poll_wait_secs: f64,
    /// How many 202 polling responses precede the final answer (at least 1 when polling).
    pub poll_rounds: u32,
    /// Status of a successful final answer delivered through a poll: 200 or 202.
    pub final_poll_status: u16,
    /// `hold_time` of a reserved cart, in seconds of the sandbox clock.
    pub hold_secs: i64,
    /// Per-apikey quota over any sliding 1 s window; `None` = unlimited (and no `Rate-Limit*`
    /// headers).
    pub requests_per_second: Option<f64>,
    /// Nightly maintenance window `[start, end)` in hours, venue local time.
    pub maintenance: (u32, u32),
    /// The sandbox's notion of now (holds, tokens, maintenance, orders).
    pub clock: SharedClock,
    /// The same clock when it can be moved: enables `POST /_sandbox/clock`. The default config
    /// uses one `OffsetClock` for both; set this to `None` when `clock` is not an `OffsetClock`.
    pub settable_clock: Option<OffsetClock>,
    /// How long a non-polled updating call (reserve, payment, purchase) keeps its cart busy
    /// before answering, so that overlapping updates by a client are caught (409) instead of
    /// being serialised silently by the sandbox's lock.
    pub update_latency: Duration,
    /// Faults planned from the start (see [`Fault`]); more can be injected while running.
    pub faults: Vec<Fault>,
    /// Seats in every row of every venue, when set: a long run (the soak) sells more tickets
    /// than the fixed layouts hold.
    pub seats_per_row: Option<u32>,
    /// How the sandbox reads the points where the docs are silent or ambiguous (see
    /// [`dialect`]); the start value of what `POST /_sandbox/dialect` changes at run time.
    pub dialect: Dialect,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let clock = OffsetClock::default();
        Self {
            apikey: "sandbox-apikey".into(),
            client_secret: None,
            require_oauth: false,
            require_true_client_ip: true,
            force_polling: false,
            poll_wait_secs: 1.0,
            poll_rounds: 1,
            final_poll_status: 200,
            hold_secs: 299,
            requests_per_second: None,
            maintenance: (2, 3),
            clock: Arc::new(clock.clone()),
            settable_clock: Some(clock),
            update_latency: Duration::from_millis(20),
            faults: Vec::new(),
            seats_per_row: None,
            dialect: Dialect::default(),
        }
    }
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The apikey and client secret are credentials: never in logs.
        f.debug_struct("SandboxConfig")
            .field("require_oauth", &self.require_oauth)
            .field("force_polling", &self.force_polling)
            .field("poll_wait_secs", &self.poll_wait_secs)
            .field("poll_rounds", &self.poll_rounds)
            .field("hold_secs", &self.hold_secs)
            .field("requests_per_second", &self.requests_per_second)
            .field("maintenance", &self.maintenance)
            .field("faults", &self.faults)
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

/// Counters of what clients did, for tests and the acceptance harness.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SandboxStats {
    /// Partner-API requests received (admin calls excluded).
    pub requests: u64,
    /// The same requests per operation (`unredeemed`, `purchase`, ...).
    #[serde(default)]
    pub requests_by_operation: BTreeMap<String, u64>,
    pub quota_429s: u64,
    /// `PUT /cart` calls (committed purchases) per cart id, whatever their outcome.
    pub purchase_calls_by_cart: BTreeMap<String, u32>,
    pub orders: u64,
    /// Updates of a cart while another was pending or in progress (answered 409).
    pub concurrent_update_violations: u64,
    /// Polls sooner than `wait` after the previous polling response.
    pub early_polls: u64,
    /// Polls on a polling url that was not the newest of its operation.
    pub stale_polls: u64,
    pub missing_true_client_ip: u64,
    /// Seats currently held by unpurchased carts (at the time of the snapshot).
    pub seats_held: u64,
    pub carts_deleted: u64,
    /// Most requests (with a valid apikey) that arrived within any sliding second.
    pub max_requests_in_any_second: u64,
    /// Requests (with a valid apikey) per whole second since the first one: the benchmarks'
    /// quota-use-over-time charts.
    #[serde(default)]
    pub requests_by_second: Vec<u64>,
    /// Calls that an injected fault applied to (they are in `requests` too; a `rate_limit`
    /// fault is not in `quota_429s`).
    #[serde(default)]
    pub faults_injected: u64,
    /// The same calls per fault kind (`status`, `latency`, `drop_after_commit`, `rate_limit`).
    #[serde(default)]
    pub faults_by_kind: BTreeMap<String, u64>,
    /// The same calls per operation called (`purchase`, `poll`, ...), whatever the fault targeted.
    #[serde(default)]
    pub faults_by_operation: BTreeMap<String, u64>,
}

impl SandboxStats {
    fn record_fault(&mut self, op: Operation, kind: FaultKind) {
        self.faults_injected += 1;
        *self
            .faults_by_kind
            .entry(kind.name().to_owned())
            .or_default() += 1;
        *self
            .faults_by_operation
            .entry(op.name().to_owned())
            .or_default() += 1;
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    base_url: String,
    server: actix_web::dev::ServerHandle,
    shared: Arc<Shared>,
}

impl SandboxHandle {
    /// E.g. `http://127.0.0.1:PORT/partners/v1`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn stats(&self) -> SandboxStats {
        let mut state = self.shared.lock();
        state.expire_holds(self.shared.now());
        state.snapshot()
    }

    /// The key of the current payment certificate, for tests that decrypt.
    pub fn private_key(&self) -> rsa::RsaPrivateKey {
        self.shared.lock().cert.key.as_ref().clone()
    }

    /// Adds a fault to the plan, after those already there.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.add(fault);
    }

    /// Adds faults from a task of its own (see [`Self::inject`]).
    pub fn injector(&self) -> impl Fn(Fault) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |fault| shared.lock().faults.add(fault)
    }

    /// Removes every planned fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The dialect in force now (the configured one, unless changed at run time).
    pub fn dialect(&self) -> Dialect {
        self.shared.lock().dialect
    }

    /// Replaces the dialect; the next call is answered under it.
    pub fn set_dialect(&self, dialect: Dialect) {
        self.shared.lock().dialect = dialect;
    }

    /// Seats still held, by the cart holding them (holds past their time are let go first).
    pub fn held_seats_by_cart(&self) -> BTreeMap<String, u64> {
        let mut state = self.shared.lock();
        state.expire_holds(self.shared.now());
        let mut by_cart: BTreeMap<String, u64> = BTreeMap::new();
        for cart in state.inventory.values().flat_map(|i| i.holds_by_cart()) {
            *by_cart.entry(cart.to_owned()).or_default() += 1;
        }
        by_cart
    }

    /// The order token of every order, by the cart it was bought with.
    pub fn orders_by_cart(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_cart: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for order in &self.shared.lock().orders {
            by_cart
                .entry(order.cart_id.clone())
                .or_default()
                .push(order.order_token.clone());
        }
        by_cart
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

/// A one-hour maintenance window (venue-local hours) half a day from `now` in Los Angeles,
/// so at least 9 hours from `now` in every venue's zone (UTC-5 to UTC-8): for runs on a
/// clock that follows real time and must not meet the nightly window at any hour (tests).
pub fn maintenance_hours_away_from(now: chrono::DateTime<chrono::Utc>) -> (u32, u32) {
    use chrono::Timelike;
    let start = (now.with_timezone(&chrono_tz::America::Los_Angeles).hour() + 12) % 24;
    (start, (start + 1) % 24)
}

/// Serves the sandbox on `listener` in the background, on the current tokio runtime.
pub async fn spawn(config: SandboxConfig, listener: TcpListener) -> std::io::Result<SandboxHandle> {
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let bits = config.dialect.certificate_key.bits();
    let cert = tokio::task::spawn_blocking(move || CertState::initial(bits))
        .await
        .map_err(std::io::Error::other)??;
    let shared = Shared::new(config, cert);
    let data = web::Data::from(Arc::clone(&shared));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes::configure)
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(SandboxHandle {
        base_url: format!("http://{addr}/partners/v1"),
        server: handle,
        shared,
    })
}

/// `checkout-gateway sandbox --listen ADDR`: serves until ctrl-c.
pub async fn run_standalone(config: SandboxConfig, listen: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen)?;
    let handle = spawn(config, listener).await?;
    tracing::info!(base_url = %handle.base_url(), "sandbox listening");
    tokio::signal::ctrl_c().await?;
    tracing::info!("sandbox stopping");
    handle.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike, Utc};

    use super::maintenance_hours_away_from;

    #[test]
    fn the_window_away_from_now_starts_9_to_12_hours_ahead_in_every_venue() {
        let zones = [
            chrono_tz::America::Los_Angeles,
            chrono_tz::America::Denver,
            chrono_tz::America::Chicago,
            chrono_tz::America::New_York,
        ];
        // A winter and a summer day, every hour.
        for (month, hour) in [1, 7]
            .into_iter()
            .flat_map(|m| (0..24).map(move |h| (m, h)))
        {
            let now = Utc
                .with_ymd_and_hms(2027, month, 15, hour, 30, 0)
                .single()
                .expect("a valid time");
            let (start, end) = maintenance_hours_away_from(now);
            assert_eq!(end, (start + 1) % 24);
            for zone in zones {
                let ahead = (start + 24 - now.with_timezone(&zone).hour()) % 24;
                assert!((9..=12).contains(&ahead), "{zone} at {now}: {ahead} h");
            }
        }
    }
}
