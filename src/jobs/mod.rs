//! Background work every replica runs.
//!
//! # Layout
//! - [`worker`]: the sweeper and resumer — takes over checkouts whose worker died, releases
//!   abandoned carts and expired holds.
//! - [`unredeemed`]: the unredeemed-orders job (one run: query upstream, map back to users,
//!   record, queue webhooks); [`schedule`]: cron times and the catch-up rule;
//!   [`scheduler`]: the loop that claims scheduled runs.
//! - [`webhook`]: Standard Webhooks signing and sending; `message`: the body of one;
//!   [`delivery`]: the retrying delivery worker with dead letters.
//! - [`model`]: job runs, findings and webhook deliveries as stored.
//! - [`report`]: what `checkout-gateway jobs unredeemed` prints (`startup::once` runs it).
//!
//! [`Jobs`] bundles the unredeemed-orders pieces as the application (server, CLI) holds them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub mod delivery;
mod message;
pub mod model;
pub mod report;
pub mod schedule;
pub mod scheduler;
pub mod unredeemed;
pub mod webhook;
pub mod worker;

use crate::context::AppContext;
use crate::upstream::UnredeemedQuery;
use delivery::{DeliveryWorker, RetryPolicy};
use schedule::CronSchedule;
use unredeemed::{UnredeemedConfig, UnredeemedJob};
use webhook::{WebhookSender, WebhookTarget};

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

/// The unredeemed-orders job, its delivery worker (when a webhook is configured) and its
/// schedule.
#[derive(Clone)]
pub struct Jobs {
    pub unredeemed: Arc<UnredeemedJob>,
    pub delivery: Option<Arc<DeliveryWorker>>,
    pub settings: UnredeemedSettings,
}

impl Jobs {
    /// The context's replica id names this process in run and delivery leases.
    pub fn build(
        context: &AppContext,
        settings: &UnredeemedSettings,
    ) -> Result<Self, reqwest::Error> {
        let owner = context.liveness.replica_id();
        // One wake for every message queued: by a job run, or by a checkout's notice.
        let wake = context.notices_queued.clone();
        let delivery = match &settings.webhook {
            Some(target) => Some(Arc::new(DeliveryWorker {
                store: context.store.jobs.clone(),
                sender: WebhookSender::new(target.clone())?,
                policy: settings.retry,
                clock: context.clock.clone(),
                owner: owner.to_owned(),
                metrics: context.metrics.clone(),
                wake: wake.clone(),
                batch: 50,
            })),
            None => None,
        };
        let unredeemed = Arc::new(UnredeemedJob {
            context: context.clone(),
            config: UnredeemedConfig {
                queries: settings.queries.clone(),
                lease: settings.lease,
                owner: owner.to_owned(),
                delivery: settings.webhook.as_ref().map(|_| settings.retry),
            },
            wake_delivery: wake,
        });
        Ok(Self {
            unredeemed,
            delivery,
            settings: settings.clone(),
        })
    }

    /// Start the scheduler (when enabled) and the delivery worker (when a webhook is set) on
    /// the current runtime, until `shutdown`.
    pub fn spawn(&self, shutdown: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if self.settings.enabled {
            let scheduler = scheduler::Scheduler {
                job: self.unredeemed.clone(),
                schedule: self.settings.schedule.clone(),
                booted_at: self.unredeemed.context.clock.now(),
            };
            tasks.push(tokio::spawn(scheduler.run(shutdown.clone())));
        }
        if let Some(delivery) = &self.delivery {
            tasks.push(tokio::spawn(delivery.clone().run(shutdown.clone())));
        }
        tasks
    }
}
