//! Change notifications across replicas: Postgres `LISTEN`/`NOTIFY` on the channels the
//! triggers of migrations 0008, 0010 and 0012 notify (`checkout_versions` with the checkout's
//! id and the version written, `<id>:<version>`, when its version, state or lease holder
//! changes, and the bare id when it is deleted: every change a partner can see;
//! `idempotency_changed` when a key settles or goes). The triggers also notify
//! `checkout_changed` with the bare id, for replicas of earlier versions. One listening
//! connection per replica, of its own (not from the pool, named
//! [`LISTENER_APPLICATION_NAME`] in `pg_stat_activity`). Whoever follows is told when
//! listening starts and when it stops ([`Change::Heard`], [`Change::Unheard`]): between a lost
//! connection and the next `LISTEN`, changes go unannounced, so anything cached from them is
//! suspect. SQLite has no listener: one process, woken in memory.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use crate::ids::CheckoutId;

/// Since migration 0012 (`checkout_changed`, the bare id, is kept for earlier versions).
const CHECKOUT_CHANNEL: &str = "checkout_versions";
const IDEMPOTENCY_CHANNEL: &str = "idempotency_changed";

/// The listener connection's `application_name`: operators (and tests) can find it.
pub const LISTENER_APPLICATION_NAME: &str = "checkout-gateway changes";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A checkout changed; `version` is the one written, `None` for a removal (or a change
    /// that wrote no new version).
    Checkout {
        id: CheckoutId,
        version: Option<i64>,
    },
    /// Some Idempotency-Key settled or was removed.
    Idempotency,
    /// Listening: every change committed from now on is announced.
    Heard,
    /// Not listening any more (the connection was lost, or following stopped): changes may go
    /// unannounced until the next [`Change::Heard`].
    Unheard,
}

/// How one listening connection's life ended.
enum Ended {
    Stopped,
    /// The connection was lost; connect again at once.
    Lost,
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
        let ended = listen(&url, &on_change, &stop, &ready).await;
        // Whatever was notified from here until the next LISTEN is gone.
        on_change(Change::Unheard);
        match ended {
            Ok(Ended::Stopped) => return,
            Ok(Ended::Lost) => {
                tracing::warn!("change notifications interrupted; listening again");
            }
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

/// One listening connection's life: `Err` when it could not be set up or broke with an error.
async fn listen(
    url: &str,
    on_change: &impl Fn(Change),
    stop: &CancellationToken,
    ready: &CancellationToken,
) -> Result<Ended, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    // One connection, never recycled: a new one would miss what was notified in between.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.application_name(LISTENER_APPLICATION_NAME))
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener
        .listen_all([CHECKOUT_CHANNEL, IDEMPOTENCY_CHANNEL])
        .await?;
    on_change(Change::Heard);
    ready.cancel();
    loop {
        let notification = tokio::select! {
            _ = stop.cancelled() => return Ok(Ended::Stopped),
            n = listener.try_recv() => n,
        };
        // `None`: the connection is gone. Connect anew (rather than let the listener
        // reconnect by itself), so that `Heard` is said exactly when the new LISTEN is in place.
        let Some(notification) = notification? else {
            return Ok(Ended::Lost);
        };
        match notification.channel() {
            CHECKOUT_CHANNEL => match checkout_change(notification.payload()) {
                Some(change) => on_change(change),
                None => tracing::warn!("a checkout change named no checkout id"),
            },
            _ => on_change(Change::Idempotency),
        }
    }
}

/// `<id>:<version>`, or the bare `<id>`. A version that does not parse is dropped rather
/// than the change: without one, the change is taken as one this replica has not seen.
fn checkout_change(payload: &str) -> Option<Change> {
    let (id, version) = match payload.split_once(':') {
        Some((id, version)) => (id, version.parse().ok()),
        None => (payload, None),
    };
    Some(Change::Checkout {
        id: id.parse().ok()?,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkout_change_names_its_id_and_the_version_written() {
        let id = CheckoutId::new();
        assert_eq!(
            checkout_change(&format!("{id}:7")),
            Some(Change::Checkout {
                id,
                version: Some(7)
            })
        );
        // A removal: no version.
        assert_eq!(
            checkout_change(&id.to_string()),
            Some(Change::Checkout { id, version: None })
        );
        assert_eq!(
            checkout_change(&format!("{id}:seven")),
            Some(Change::Checkout { id, version: None })
        );
        assert_eq!(checkout_change("not-an-id:7"), None);
        assert_eq!(checkout_change(""), None);
    }
}
