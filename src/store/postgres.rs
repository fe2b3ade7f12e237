//! The Postgres backend: pool setup and migrator. The queries and trait implementations are
//! shared with SQLite (see [`super::sql_store`]).

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::sql_store::sql_store;
use super::{Backend, ConnectOptions, Store, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

sql_store!(
    PgStore,
    sqlx::Postgres,
    MIGRATOR,
    // `to_regclass` follows the search path, like the migrator's unqualified table name.
    "SELECT to_regclass('_sqlx_migrations') IS NOT NULL"
);

/// Connect to `postgres://…` (the database must exist; migrations are applied separately).
/// Every replica holds its own pool: `max_connections` times the replica count must stay
/// under the server's limit.
pub async fn connect(options: &ConnectOptions) -> StoreResult<Store> {
    let pool: PgPool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .connect(&options.url)
        .await?;
    Ok(PgStore { pool }.into_store(Backend::Postgres))
}
