//! The webhook delivery worker: leases due messages from the store, sends each once per
//! attempt (see [`super::webhook`]), and records the outcome. A failure is retried with
//! exponential backoff and jitter until the message's retry period ends; then it is
//! dead-lettered, listed by the admin API and re-drivable. Every replica runs a worker; the
//! lease keeps each attempt to one replica, and a replica that dies mid-attempt loses only its
//! lease (the message is sent again: at least once, with the same `webhook-id`).
//!
//! Every outcome is decided in one place, [`DeliveryWorker::attempt`], and counted from there.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::model::{AttemptResult, Delivery, DeliveryClaim};
use super::webhook::WebhookSender;
use crate::clock::SharedClock;
use crate::ids::DeliveryId;
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::store::{JobStore, StoreResult};

/// How failed attempts are spaced and for how long they go on.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles per failure.
    pub initial: Duration,
    /// No wait grows beyond this.
    pub max: Duration,
    /// Messages still undelivered this long after they were first queued (or re-driven)
    /// are dead-lettered.
    pub retry_for: Duration,
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts (1 = the first failure), ± 25 % jitter so
    /// replicas retrying one broken receiver spread out.
    pub fn delay(&self, failures: i64) -> Duration {
        let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let base = self
            .initial
            .saturating_mul(1u32 << doublings.min(20))
            .min(self.max);
        let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        let jitter = uuid::Uuid::new_v4().as_u128() as u64 % (base_ms / 2 + 1);
        Duration::from_millis(base_ms - base_ms / 4 + jitter)
    }

    /// When a message queued (or re-driven) at `from` is given up.
    pub fn dead_after(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        from + TimeDelta::from_std(self.retry_for).unwrap_or(TimeDelta::MAX)
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPass {
    pub delivered: usize,
    pub failed: usize,
    pub dead_lettered: usize,
    /// Attempts whose lease was lost before the outcome was written.
    pub lost: usize,
    /// Leased but not attempted: the lease would not have covered the attempt. Claimed again
    /// once it lapses.
    pub deferred: usize,
    pub errors: usize,
}

pub struct DeliveryWorker {
    pub store: Arc<dyn JobStore>,
    pub sender: WebhookSender,
    pub policy: RetryPolicy,
    pub clock: SharedClock,
    pub owner: String,
    pub metrics: Arc<Metrics>,
    /// Woken when a run queues messages, so they go out without waiting for the next tick.
    pub wake: Arc<Notify>,
    /// Messages leased per pass.
    pub batch: u32,
}

impl DeliveryWorker {
    /// Deliver until `shutdown`: a pass per tick, or sooner when woken.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        // The tick bounds how late a retry goes out; short retry waits want short ticks.
        let tick = self
            .policy
            .initial
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
            // A stop does not wait for the pass (up to a batch of receivers' timeouts): a
            // message cut off mid-way keeps its lease until it lapses and is sent again, as
            // after a crash (receivers deduplicate on `webhook-id`). Found by review: SIGTERM
            // waited for the pass before the checkouts were handed back.
            let pass = tokio::select! {
                _ = shutdown.cancelled() => return,
                pass = self.deliver_due() => pass,
            };
            if pass != DeliveryPass::default() {
                tracing::info!(?pass, "webhook delivery pass");
            }
        }
    }

    /// Lease the due messages and attempt each once.
    pub async fn deliver_due(&self) -> DeliveryPass {
        let mut pass = DeliveryPass::default();
        let now = self.clock.now();
        // Long enough for a whole attempt; a replica that dies holds a message no longer.
        let hold = self.sender_timeout() + Duration::from_secs(30);
        let claim = DeliveryClaim {
            owner: self.owner.clone(),
            now,
            lease_until: now + TimeDelta::from_std(hold).unwrap_or(TimeDelta::MAX),
            limit: self.batch,
        };
        let due = match self.store.claim_deliveries(&claim).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not lease webhook deliveries");
                pass.errors += 1;
                return pass;
            }
        };
        let claimed = std::time::Instant::now();
        for delivery in due {
            // Only while the lease covers a whole attempt: past that, another replica may
            // claim the message and both would send it at once (found by review: a batch of
            // slow receivers outlasted its lease). The rest are claimed again when it lapses.
            if claimed.elapsed() + self.sender_timeout() > hold {
                pass.deferred += 1;
                continue;
            }
            match self.attempt(&delivery).await {
                Ok(Some(DeliveryOutcome::Delivered)) => pass.delivered += 1,
                Ok(Some(DeliveryOutcome::Failed)) => pass.failed += 1,
                Ok(Some(DeliveryOutcome::DeadLettered)) => pass.dead_lettered += 1,
                Ok(None) => pass.lost += 1,
                Err(e) => {
                    tracing::warn!(delivery_id = %delivery.id, error = %e, "could not record a webhook attempt");
                    pass.errors += 1;
                }
            }
        }
        pass
    }

    /// Send one leased message and store what happened; `None` when the lease was lost.
    async fn attempt(&self, delivery: &Delivery) -> StoreResult<Option<DeliveryOutcome>> {
        let sent = self
            .sender
            .send(delivery.id, &delivery.payload, self.clock.now())
            .await;
        let now = self.clock.now();
        let (outcome, result) = match sent {
            Ok(()) => (
                DeliveryOutcome::Delivered,
                AttemptResult::Delivered { at: now },
            ),
            Err(e) => {
                let wait = self.policy.delay(delivery.attempts + 1);
                let next = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
                if next > delivery.dead_after {
                    tracing::warn!(delivery_id = %delivery.id, error = %e, "webhook dead-lettered");
                    let result = AttemptResult::Dead {
                        error: e.to_string(),
                        at: now,
                    };
                    (DeliveryOutcome::DeadLettered, result)
                } else {
                    let result = AttemptResult::Retry {
                        error: e.to_string(),
                        next_attempt_at: next,
                        at: now,
                    };
                    (DeliveryOutcome::Failed, result)
                }
            }
        };
        if !self
            .store
            .finish_attempt(delivery.id, &self.owner, &result)
            .await?
        {
            return Ok(None);
        }
        self.metrics.webhook_delivery(outcome);
        Ok(Some(outcome))
    }

    fn sender_timeout(&self) -> Duration {
        self.sender.timeout()
    }

    /// Put a dead letter back in the queue with a fresh retry period; `false` when `id` is
    /// not dead-lettered.
    pub async fn redrive(&self, id: DeliveryId) -> StoreResult<bool> {
        let now = self.clock.now();
        let redriven = self
            .store
            .redrive(id, now, self.policy.dead_after(now))
            .await?;
        if redriven {
            self.wake.notify_one();
        }
        Ok(redriven)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_their_jitter_up_to_the_cap() {
        let policy = RetryPolicy {
            initial: Duration::from_millis(1000),
            max: Duration::from_secs(30),
            retry_for: Duration::from_secs(3600),
        };
        for failures in 1..10 {
            let base = (1000u64 << (failures - 1)).min(30_000);
            let d = policy.delay(failures).as_millis() as u64;
            assert!(
                d >= base * 3 / 4 && d <= base * 5 / 4,
                "{failures}: {d} vs {base}"
            );
        }
    }
}
