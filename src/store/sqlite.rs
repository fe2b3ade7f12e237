//! The SQLite backend: connection options (WAL, busy timeout, foreign keys, creating the file
//! and its folder) and migrator. The queries and trait implementations are shared with
//! Postgres (see [`super::sql_store`]).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

use super::pool::{Pool, Sizing};
use super::sql_store::sql_store;
use super::{Backend, ConnectOptions, Store, StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite has one writer at a time; a writer waits this long for another to finish instead of
/// failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    MIGRATOR,
    "SELECT EXISTS (SELECT 1 FROM sqlite_master \
     WHERE type = 'table' AND name = '_sqlx_migrations')",
    // The database clock, in milliseconds since the epoch: replica liveness is judged by it.
    "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    // No data-modifying `WITH` in SQLite: a purchase is recorded in a transaction.
    None,
    // Nor for a claim beside a write: the claim has a statement of its own.
    None
);

/// Connect to `sqlite://PATH` (relative paths are relative to the working directory; the file
/// and its folder are created) or `sqlite::memory:`. Readers run concurrently under WAL (up to
/// `max_connections`); writes queue on the busy timeout.
pub async fn connect(url: &str, connect: &ConnectOptions) -> StoreResult<Store> {
    let max_connections = connect.max_connections.max(1);
    let options = SqliteConnectOptions::from_str(url)?
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = if is_in_memory(url) {
        // An in-memory database lives as long as a connection to it, and its shared-cache
        // mode reports lock conflicts instead of waiting: one connection, never recycled.
        let sizing = Sizing {
            max_connections: 1,
            acquire_timeout: connect.acquire_timeout,
            recycle: false,
        };
        Pool::connect(options, sizing).await?
    } else {
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Database(sqlx::Error::Configuration(
                    format!("creating {}: {e}", dir.display()).into(),
                ))
            })?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        Pool::connect(options, connect.sizing(max_connections)).await?
    };
    Ok(SqliteStore { pool }.into_store(Backend::Sqlite))
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}
