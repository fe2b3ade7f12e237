//! What ops sees: every instrument the gateway records, built on the OpenTelemetry SDK and
//! exported in Prometheus text format on the admin listener's `/metrics`.
//!
//! One [`Metrics`] per application (tests run several in one process, so nothing here is
//! global). Callers record through typed methods whose label values are `&'static str` or
//! enums: no id, URL or user value can become a label, which keeps cardinality bounded.
//! Gauges that describe stored state (checkouts by state, dead letters) are refreshed from the
//! store right before each scrape, so a scrape never shows a stale count.
//!
//! The series and their meaning are listed in `docs/metrics.md`.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

mod record;

/// Seconds buckets from 5 ms (a cached read) to 5 min (a long upstream queue).
const SECONDS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// How an upstream exchange ended, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// A 2xx answer.
    Ok,
    /// A 4xx/5xx other than 429.
    HttpError,
    RateLimited,
    /// No answer: connect, timeout or a broken body.
    Transport,
}

impl UpstreamOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::HttpError => "http_error",
            Self::RateLimited => "rate_limited",
            Self::Transport => "transport",
        }
    }
}

/// One finished upstream exchange.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamCall {
    pub operation: &'static str,
    pub outcome: UpstreamOutcome,
    /// Upstream's numeric error code, when its body carried one.
    pub error_code: Option<u32>,
    pub elapsed: Duration,
}

/// Why the sweeper gave a hold back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseReason {
    Abandoned,
    Expired,
}

impl DeliveryOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// Where `GET /v1/checkouts/{id}` found the checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSource {
    /// This replica's read cache (a hit).
    Cache,
    /// The database (a miss).
    Database,
}

impl ReadSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Database => "database",
        }
    }
}

/// Where a request waiting on a checkout (`Prefer: wait`) took its next look at it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitSource {
    /// The record this replica had just written, handed over.
    Handed,
    /// The database.
    Database,
}

impl WaitSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Handed => "handed",
            Self::Database => "database",
        }
    }
}

/// How a payment or purchase took its checkout's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseTaking {
    /// In the write that starts the operation, from this replica's own record of the checkout.
    WithWrite,
    /// By a statement of its own, before that write.
    OwnStatement,
    /// This replica's record was not the database's any more: nothing was written, and the
    /// lease was then taken by a statement of its own (counted there too).
    StaleRecord,
}

impl LeaseTaking {
    fn as_str(self) -> &'static str {
        match self {
            Self::WithWrite => "with_write",
            Self::OwnStatement => "own_statement",
            Self::StaleRecord => "stale_record",
        }
    }
}

/// A closed set of label values, such as a checkout's states: the metrics know their words and
/// the whole set (to report the absent ones as 0), not the domain type behind them.
pub trait LabelSet: Copy + 'static {
    const ALL: &'static [Self];
    fn label(self) -> &'static str;
}

/// Every instrument, and the registry they are exported through.
pub struct Metrics {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    http_duration: Histogram<f64>,
    upstream_duration: Histogram<f64>,
    upstream_rate_limited: Counter<u64>,
    upstream_unreadable: Counter<u64>,
    polls: Counter<u64>,
    poll_wait: Histogram<f64>,
    quota_wait: Histogram<f64>,
    quota_remaining: Gauge<i64>,
    quota_limit: Gauge<f64>,
    checkouts: Gauge<u64>,
    transitions: Counter<u64>,
    reserve_duration: Histogram<f64>,
    purchase_duration: Histogram<f64>,
    sweeper_releases: Counter<u64>,
    sweeper_failures: Counter<u64>,
    sweeper_backlog: Gauge<u64>,
    takeovers: Counter<u64>,
    replicas_reaped: Counter<u64>,
    leases_orphaned: Counter<u64>,
    replays: Counter<u64>,
    checkout_reads: Counter<u64>,
    checkout_wait_reads: Counter<u64>,
    operation_leases: Counter<u64>,
    read_cache_resets: Counter<u64>,
    certificate_refreshes: Counter<u64>,
    token_refreshes: Counter<u64>,
    jobs: JobInstruments,
}

/// The scheduled jobs' instruments.
struct JobInstruments {
    runs: Counter<u64>,
    duration: Histogram<f64>,
    orders_found: Counter<u64>,
    deliveries: Counter<u64>,
    dead_letters: Gauge<u64>,
    oldest_undelivered: Gauge<f64>,
}

/// How one webhook delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Refused or unanswered; another attempt is scheduled.
    Failed,
    /// The retry period ran out.
    DeadLettered,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = prometheus::Registry::new();
        let provider = match opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .build()
        {
            Ok(exporter) => SdkMeterProvider::builder()
                .with_resource(
                    Resource::builder()
                        .with_service_name(env!("CARGO_PKG_NAME"))
                        .build(),
                )
                .with_reader(exporter)
                .build(),
            // Only a duplicate registration can fail, and the registry is fresh: record into
            // a provider without a reader rather than refuse to start.
            Err(e) => {
                tracing::error!(error = %e, "metrics exporter unavailable");
                SdkMeterProvider::builder().build()
            }
        };
        let meter = provider.meter("checkout-gateway");
        let jobs = JobInstruments::new(&meter);
        let metrics = Self {
            http_duration: seconds(
                &meter,
                "http.server.request.duration",
                "Public API requests",
            ),
            upstream_duration: seconds(
                &meter,
                "gateway.upstream.request.duration",
                "Partner API exchanges by operation and outcome",
            ),
            upstream_rate_limited: counter(
                &meter,
                "gateway.upstream.rate_limited",
                "429 answers from the Partner API",
            ),
            upstream_unreadable: counter(
                &meter,
                "gateway.upstream.unreadable",
                "Partner API answers the gateway could not read, by operation",
            ),
            polls: counter(&meter, "gateway.upstream.polls", "Polls of 202 answers"),
            poll_wait: seconds(
                &meter,
                "gateway.upstream.poll.wait",
                "The wait upstream asked for before a poll",
            ),
            quota_wait: seconds(
                &meter,
                "gateway.quota.wait",
                "Time a request waited for an upstream send slot, by lane",
            ),
            quota_remaining: meter
                .i64_gauge("gateway.quota.remaining")
                .with_description("Upstream's last Rate-Limit-Available (-1 before any)")
                .build(),
            quota_limit: meter
                .f64_gauge("gateway.quota.limit")
                .with_description("Configured upstream requests per second (whole deployment)")
                .build(),
            checkouts: meter
                .u64_gauge("gateway.checkouts")
                .with_description("Checkouts by state, read from the store at scrape time")
                .build(),
            transitions: counter(
                &meter,
                "gateway.checkout.transitions",
                "Checkout state changes, by the state entered",
            ),
            reserve_duration: seconds(
                &meter,
                "gateway.checkout.reserve.duration",
                "From create to reserved",
            ),
            purchase_duration: seconds(
                &meter,
                "gateway.checkout.purchase.duration",
                "From create to purchased",
            ),
            sweeper_releases: counter(
                &meter,
                "gateway.sweeper.releases",
                "Holds given back by the sweeper, by reason",
            ),
            sweeper_failures: counter(&meter, "gateway.sweeper.failures", "Sweeper errors"),
            sweeper_backlog: meter
                .u64_gauge("gateway.sweeper.backlog")
                .with_description("Checkouts due for work at the last sweeper pass")
                .build(),
            takeovers: counter(
                &meter,
                "gateway.resumer.takeovers",
                "Operations resumed after their worker's lease lapsed",
            ),
            replicas_reaped: counter(
                &meter,
                "gateway.replicas.reaped",
                "Replicas this one found without a heartbeat and marked dead, freeing their leases",
            ),
            leases_orphaned: counter(
                &meter,
                "gateway.leases.orphaned",
                "Leases of this replica whose work had stopped without handing them back",
            ),
            replays: counter(
                &meter,
                "gateway.idempotent.replays",
                "Answers replayed for a repeated Idempotency-Key",
            ),
            checkout_reads: counter(
                &meter,
                "gateway.checkout.reads",
                "Checkout reads (GET /v1/checkouts/{id}) by where the answer came from",
            ),
            checkout_wait_reads: counter(
                &meter,
                "gateway.checkout.wait_reads",
                "Looks at a checkout by requests waiting on it, by where the record came from",
            ),
            operation_leases: counter(
                &meter,
                "gateway.checkout.operation_leases",
                "Payments and purchases started, by how they took the checkout's lease",
            ),
            read_cache_resets: counter(
                &meter,
                "gateway.checkout.read_cache.resets",
                "Times the checkout read cache was emptied because change notifications could \
                 have been missed",
            ),
            certificate_refreshes: counter(
                &meter,
                "gateway.certificate.refreshes",
                "Payment certificate fetches",
            ),
            token_refreshes: counter(&meter, "gateway.token.refreshes", "OAuth token fetches"),
            jobs,
            registry,
            provider,
        };
        metrics.start_at_zero();
        metrics
    }

    /// Counters and event-fed gauges exist from the first scrape, at 0: `increase()` and alerts
    /// see the first event as a change, and a missing series means a broken exporter, not
    /// "nothing happened yet". (Histograms appear with their first observation; gauges read
    /// from stored state are set by each scrape, so a failed read never shows as a 0.)
    fn start_at_zero(&self) {
        for counter in [
            &self.sweeper_failures,
            &self.takeovers,
            &self.replicas_reaped,
            &self.leases_orphaned,
            &self.replays,
            &self.read_cache_resets,
            &self.certificate_refreshes,
            &self.token_refreshes,
        ] {
            counter.add(0, &[]);
        }
        for source in [ReadSource::Cache, ReadSource::Database] {
            self.checkout_reads
                .add(0, &[KeyValue::new("source", source.as_str())]);
        }
        for source in [WaitSource::Handed, WaitSource::Database] {
            self.checkout_wait_reads
                .add(0, &[KeyValue::new("source", source.as_str())]);
        }
        for taken in [
            LeaseTaking::WithWrite,
            LeaseTaking::OwnStatement,
            LeaseTaking::StaleRecord,
        ] {
            self.operation_leases
                .add(0, &[KeyValue::new("taken", taken.as_str())]);
        }
        for reason in [ReleaseReason::Abandoned, ReleaseReason::Expired] {
            self.sweeper_releases(reason, 0);
        }
        self.sweeper_backlog(0);
        for operation in UPSTREAM_OPERATIONS {
            self.upstream_unreadable
                .add(0, &[KeyValue::new("operation", *operation)]);
        }
        for outcome in ["ok", "failed"] {
            self.jobs.runs.add(
                0,
                &[
                    KeyValue::new("job_name", "unredeemed"),
                    KeyValue::new("outcome", outcome),
                ],
            );
        }
        self.orders_found("unredeemed", 0, 0);
        for outcome in [
            DeliveryOutcome::Delivered,
            DeliveryOutcome::Failed,
            DeliveryOutcome::DeadLettered,
        ] {
            self.jobs
                .deliveries
                .add(0, &[KeyValue::new("outcome", outcome.as_str())]);
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Flush and stop the exporter (at shutdown).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "metrics provider shutdown");
        }
    }
}

impl JobInstruments {
    fn new(meter: &Meter) -> Self {
        Self {
            runs: counter(meter, "gateway.job.runs", "Job runs by job and outcome"),
            duration: seconds(meter, "gateway.job.duration", "Job run time"),
            orders_found: counter(
                meter,
                "gateway.job.orders_found",
                "Unredeemed orders found, by whether their user is known",
            ),
            deliveries: counter(
                meter,
                "gateway.webhook.deliveries",
                "Webhook delivery attempts by outcome",
            ),
            dead_letters: meter
                .u64_gauge("gateway.webhook.dead_letters")
                .with_description("Webhook deliveries currently dead-lettered")
                .build(),
            oldest_undelivered: meter
                .f64_gauge("gateway.webhook.oldest_undelivered_age")
                .with_unit("s")
                .with_description("Age of the oldest pending webhook delivery (0 if none)")
                .build(),
        }
    }
}

fn seconds(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(SECONDS.to_vec())
        .build()
}

fn counter(meter: &Meter, name: &'static str, description: &'static str) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_description(description)
        .build()
}

/// The `operation` label values of upstream calls (see the transport's operation names).
pub const UPSTREAM_OPERATIONS: &[&str] = &[
    "event",
    "captcha",
    "open_cart",
    "reserve",
    "certificate",
    "payment",
    "purchase",
    "delete_cart",
    "poll",
    "unredeemed_orders",
    "token",
];

/// HTTP semconv: methods outside the known set are reported as `_OTHER`, so a client cannot
/// mint label values.
fn known_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "_OTHER",
    }
}

#[cfg(test)]
mod tests;
