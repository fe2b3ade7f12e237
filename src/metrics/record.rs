//! The recording methods, one group per area (HTTP, upstream, checkouts, sweeper, jobs).

use std::time::Duration;

use opentelemetry::KeyValue;

use super::*;

impl Metrics {
    // ------------------------------------------------------------ HTTP

    /// One public request; `route` is the matched template (`/v1/checkouts/{id}`).
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http_duration.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("http.request.method", known_method(method)),
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ],
        );
    }

    /// A checkout read answered from `source`.
    pub fn checkout_read(&self, source: ReadSource) {
        self.checkout_reads
            .add(1, &[KeyValue::new("source", source.as_str())]);
    }

    /// A request waiting on a checkout looked at it again, from `source`.
    pub fn checkout_wait_read(&self, source: WaitSource) {
        self.checkout_wait_reads
            .add(1, &[KeyValue::new("source", source.as_str())]);
    }

    /// A payment or purchase took its checkout's lease (or found its record stale), `taken`.
    pub fn operation_lease(&self, taken: LeaseTaking) {
        self.operation_leases
            .add(1, &[KeyValue::new("taken", taken.as_str())]);
    }

    /// The checkout read cache was emptied (its change notifications were interrupted).
    pub fn read_cache_reset(&self) {
        self.read_cache_resets.add(1, &[]);
    }

    pub fn idempotent_replay(&self) {
        self.replays.add(1, &[]);
    }

    // ------------------------------------------------------------ upstream

    pub fn upstream_call(&self, call: UpstreamCall) {
        let code = call
            .error_code
            .map_or_else(|| "none".to_owned(), |c| c.to_string());
        self.upstream_duration.record(
            call.elapsed.as_secs_f64(),
            &[
                KeyValue::new("operation", call.operation),
                KeyValue::new("outcome", call.outcome.as_str()),
                KeyValue::new("error_code", code),
            ],
        );
        if call.outcome == UpstreamOutcome::RateLimited {
            self.upstream_rate_limited
                .add(1, &[KeyValue::new("operation", call.operation)]);
        }
    }

    /// Upstream answered `operation` with something the gateway could not read.
    pub fn upstream_unreadable(&self, operation: &'static str) {
        self.upstream_unreadable
            .add(1, &[KeyValue::new("operation", operation)]);
    }

    /// A poll of `operation`'s 202 answer is sent.
    pub fn poll(&self, operation: &'static str) {
        self.polls.add(1, &[KeyValue::new("operation", operation)]);
    }

    /// Upstream answered `operation` with 202 and asked to wait `wait` before polling.
    pub fn poll_wait(&self, operation: &'static str, wait: Duration) {
        self.poll_wait
            .record(wait.as_secs_f64(), &[KeyValue::new("operation", operation)]);
    }

    pub fn quota_wait(&self, lane: &'static str, waited: Duration) {
        self.quota_wait
            .record(waited.as_secs_f64(), &[KeyValue::new("lane", lane)]);
    }

    /// Upstream's `Rate-Limit-Available` (or -1 when it never said), set at each scrape from
    /// what the client last saw.
    pub fn quota_remaining(&self, available: i64) {
        self.quota_remaining.record(available, &[]);
    }

    pub fn quota_limit(&self, requests_per_second: f64) {
        self.quota_limit.record(requests_per_second, &[]);
    }

    pub fn certificate_refreshed(&self) {
        self.certificate_refreshes.add(1, &[]);
    }

    pub fn token_refreshed(&self) {
        self.token_refreshes.add(1, &[]);
    }

    // ------------------------------------------------------------ checkouts

    pub fn transition<S: LabelSet>(&self, to: S) {
        self.transitions.add(1, &[KeyValue::new("to", to.label())]);
    }

    pub fn reserved_after(&self, elapsed: Duration) {
        self.reserve_duration.record(elapsed.as_secs_f64(), &[]);
    }

    pub fn purchased_after(&self, elapsed: Duration) {
        self.purchase_duration.record(elapsed.as_secs_f64(), &[]);
    }

    /// Checkouts by state as the store counts them; states with none are reported as 0.
    pub fn checkouts_by_state<S: LabelSet>(&self, counts: &[(S, u64)]) {
        for &state in S::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s.label() == state.label())
                .map_or(0, |(_, n)| *n);
            self.checkouts
                .record(n, &[KeyValue::new("state", state.label())]);
        }
    }

    pub fn takeover(&self) {
        self.takeovers.add(1, &[]);
    }

    pub fn replicas_reaped(&self, n: u64) {
        self.replicas_reaped.add(n, &[]);
    }

    pub fn leases_orphaned(&self, n: u64) {
        self.leases_orphaned.add(n, &[]);
    }

    // ------------------------------------------------------------ sweeper

    pub fn sweeper_releases(&self, reason: ReleaseReason, n: u64) {
        let reason = match reason {
            ReleaseReason::Abandoned => "abandoned",
            ReleaseReason::Expired => "expired",
        };
        self.sweeper_releases
            .add(n, &[KeyValue::new("reason", reason)]);
    }

    pub fn sweeper_failures(&self, n: u64) {
        if n > 0 {
            self.sweeper_failures.add(n, &[]);
        }
    }

    pub fn sweeper_backlog(&self, due: u64) {
        self.sweeper_backlog.record(due, &[]);
    }

    // ------------------------------------------------------------ jobs

    pub fn job_run(&self, job: &'static str, succeeded: bool, elapsed: Duration) {
        let outcome = if succeeded { "ok" } else { "failed" };
        let job_label = KeyValue::new("job_name", job);
        self.jobs
            .runs
            .add(1, &[job_label.clone(), KeyValue::new("outcome", outcome)]);
        self.jobs
            .duration
            .record(elapsed.as_secs_f64(), &[job_label]);
    }

    /// Orders a run found: `known` mapped back to a user, `unknown` not.
    pub fn orders_found(&self, job: &'static str, known: u64, unknown: u64) {
        for (mapped, n) in [("known", known), ("unknown", unknown)] {
            self.jobs.orders_found.add(
                n,
                &[
                    KeyValue::new("job_name", job),
                    KeyValue::new("mapped", mapped),
                ],
            );
        }
    }

    pub fn webhook_delivery(&self, outcome: DeliveryOutcome) {
        self.jobs
            .deliveries
            .add(1, &[KeyValue::new("outcome", outcome.as_str())]);
    }

    /// The delivery backlog as the store sees it (refreshed at scrape time).
    pub fn webhook_backlog(&self, dead_letters: u64, oldest_undelivered: Duration) {
        self.jobs.dead_letters.record(dead_letters, &[]);
        self.jobs
            .oldest_undelivered
            .record(oldest_undelivered.as_secs_f64(), &[]);
    }
}
