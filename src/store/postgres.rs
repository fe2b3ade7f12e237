//! The Postgres backend: pool setup and migrator. The queries and trait implementations are
//! shared with SQLite (see [`super::sql_store`]).

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use super::pool::Pool;
use super::sql_store::sql_store;
use super::{Backend, ConnectOptions, Renewals, Store, StoreResult};

/// Connections kept for renewals on top of `max_connections` (see [`Store::renewals`]).
pub const RENEWAL_CONNECTIONS: u32 = 2;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

sql_store!(
    PgStore,
    sqlx::Postgres,
    MIGRATOR,
    // `to_regclass` follows the search path, like the migrator's unqualified table name.
    "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
    // The database clock, in milliseconds since the epoch: replica liveness is judged by it.
    "(extract(epoch from clock_timestamp()) * 1000)::bigint",
    // A data-modifying `WITH` records a purchase in one statement.
    Some(super::sql::RECORD_PURCHASE_IN_ONE.as_str()),
    // A write before an upstream call claims the call's quota slot in the same statement.
    Some((
        super::sql::INSERT_CHECKOUT_CLAIMING.as_str(),
        super::sql::UPDATE_CHECKOUT_CLAIMING.as_str()
    ))
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
    let pool = Pool::connect(connect.clone(), options.sizing(options.max_connections)).await?;
    let renewal_pool = Pool::connect(connect, options.sizing(RENEWAL_CONNECTIONS)).await?;
    let mut store = PgStore { pool }.into_store(Backend::Postgres);
    store.renewals = Renewals::of(&PgStore { pool: renewal_pool }.into_store(Backend::Postgres));
    Ok(store)
}
