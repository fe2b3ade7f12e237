//! The Postgres backend: pool setup and migrator. The queries and trait implementations are
//! shared with SQLite (see [`super::sql_store`]).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool};

use super::sql_store::sql_store;
use super::{Backend, ConnectOptions, Renewals, Store, StoreResult};

/// Connections kept for renewals on top of `max_connections` (see [`Store::renewals`]).
pub const RENEWAL_CONNECTIONS: u32 = 2;

/// Connections for the shared quota's claims on top of `max_connections`: a replica claims
/// one at a time (its limiter's claimant), beside the checkout write a claim ahead overlaps.
pub const QUOTA_CONNECTIONS: u32 = 2;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

sql_store!(
    PgStore,
    sqlx::Postgres,
    MIGRATOR,
    // `to_regclass` follows the search path, like the migrator's unqualified table name.
    "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
    // The database clock, in milliseconds since the epoch: replica liveness is judged by it.
    "(extract(epoch from clock_timestamp()) * 1000)::bigint"
);

/// Connect to `postgres://…` (the database must exist; migrations are applied separately).
/// Every replica holds its own pool: `max_connections` times the replica count must stay
/// under the server's limit.
pub async fn connect(options: &ConnectOptions) -> StoreResult<Store> {
    let mut connect = PgConnectOptions::from_str(&options.url)?;
    if let Some(timeout) = options.statement_timeout {
        // A statement stuck behind a lock or a sick server is cut off, freeing its
        // connection, instead of holding a request (and the pool) indefinitely.
        connect = connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
    }
    let pool: PgPool = options
        .pool(options.max_connections)
        .connect_with(connect.clone())
        .await?;
    let renewal_pool: PgPool = options
        .pool(RENEWAL_CONNECTIONS)
        .connect_with(connect.clone())
        .await?;
    // A quota claim commits without waiting for its WAL flush: it is the only write of a step
    // that is not a record of money or seats, and every upstream call waits for one. Other
    // replicas see it at commit all the same; only a crash of the database server itself can
    // lose the last fraction of a second of claims, which then lets that many sends past the
    // shared log once (a 429 upstream is waited out, see `upstream::quota`).
    let quota_pool: PgPool = options
        .pool(QUOTA_CONNECTIONS)
        .connect_with(connect.options([("synchronous_commit", "off")]))
        .await?;
    let mut store = PgStore { pool }.into_store(Backend::Postgres);
    store.renewals = Renewals::of(&PgStore { pool: renewal_pool }.into_store(Backend::Postgres));
    store.quota = std::sync::Arc::new(PgStore { pool: quota_pool });
    Ok(store)
}
