//! Change notifications across replicas: Postgres `LISTEN`/`NOTIFY` on the channels the
//! triggers of migration 0008 notify (`checkout_changed` with the checkout's id when its state
//! or lease holder changes, `idempotency_changed` when a key settles or goes). One listening
//! connection per replica, of its own (not from the pool); a lost connection is reconnected,
//! and waiters re-read on a slow interval anyway, so a notification missed meanwhile only
//! delays an answer. SQLite has no listener: one process, woken in memory.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::ids::CheckoutId;

const CHECKOUT_CHANNEL: &str = "checkout_changed";
const IDEMPOTENCY_CHANNEL: &str = "idempotency_changed";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Checkout(CheckoutId),
    /// Some Idempotency-Key settled or was removed.
    Idempotency,
}

/// Listen on `url` until `stop`, handing every change to `on_change`. `ready` is cancelled
/// once the first listen is in place (tests wait for it).
pub async fn follow(
    url: String,
    on_change: impl Fn(Change) + Send + 'static,
    stop: CancellationToken,
    ready: CancellationToken,
) {
    loop {
        match listen(&url, &on_change, &stop, &ready).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "change notifications interrupted; listening again");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// One listening connection's life: `Ok` when stopped, `Err` when it broke.
async fn listen(
    url: &str,
    on_change: &impl Fn(Change),
    stop: &CancellationToken,
    ready: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener
        .listen_all([CHECKOUT_CHANNEL, IDEMPOTENCY_CHANNEL])
        .await?;
    ready.cancel();
    loop {
        let notification = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            n = listener.try_recv() => n?,
        };
        let Some(notification) = notification else {
            // The connection was lost (and is re-established by the next receive): whatever
            // was notified meanwhile is gone, so every waiter looks again.
            on_change(Change::Idempotency);
            continue;
        };
        match notification.channel() {
            CHECKOUT_CHANNEL => match notification.payload().parse() {
                Ok(id) => on_change(Change::Checkout(id)),
                Err(_) => tracing::warn!("a checkout change named no checkout id"),
            },
            _ => on_change(Change::Idempotency),
        }
    }
}
