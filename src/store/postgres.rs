//! The Postgres backend: pool setup and migrator. The queries and trait implementations are
//! shared with SQLite (see [`super::sql_store`]).

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::sql_store::sql_store;
use super::{Backend, Store, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

sql_store!(
    PgStore,
    sqlx::Postgres,
    MIGRATOR,
    // `to_regclass` follows the search path, like the migrator's unqualified table name.
    "SELECT to_regclass('_sqlx_migrations') IS NOT NULL"
);

/// Connect to `postgres://…` (the database must exist; migrations are applied separately).
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
    let pool: PgPool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(url)
        .await?;
    Ok(PgStore { pool }.into_store(Backend::Postgres))
}
