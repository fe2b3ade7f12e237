//! Fresh, empty databases for tests: every test gets its own, so tests run in parallel
//! without seeing each other's rows. Not for production use (it panics on failure, which is
//! what a test wants).

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::{Connection, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Test databases are never dropped by the test that made them (there is no async drop), so
/// the first fresh database of each test process also drops leftovers of earlier runs.
static LEFTOVERS_DROPPED: AtomicBool = AtomicBool::new(false);

/// A new, empty Postgres database (`test_<uuid>`) created through `DATABASE_URL` (default: the
/// local `postgres` superuser); returns its URL. Not migrated.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&base).await.unwrap_or_else(|e| {
        panic!(
            "the tests need Postgres at {base} (DATABASE_URL; trust auth, a user that may \
                 create databases) and could not reach it: {e}"
        )
    });
    // The name is generated here (hex only), so formatting it into the statement is safe.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    if !LEFTOVERS_DROPPED.swap(true, Ordering::SeqCst) {
        drop_leftover_databases(&mut conn).await;
    }
    let _ = conn.close().await;
    let mut url = url::Url::parse(&base).unwrap_or_else(|e| panic!("DATABASE_URL {base}: {e}"));
    url.set_path(&name);
    url.to_string()
}

/// Best effort: a database still in use (DROP refuses it), or a server that does not let us read file times
/// (`pg_stat_file` needs superuser or `pg_read_server_files`), is simply left alone.
async fn drop_leftover_databases(conn: &mut PgConnection) {
    // Leftovers are test databases over an hour old: no test runs that long, so none is in
    // use by a concurrent run. Creation time is the mtime of the database's PG_VERSION file,
    // written once at CREATE DATABASE.
    const LEFTOVERS: &str = "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%' \
         AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification \
             < now() - interval '1 hour'";
    let Ok(names) = sqlx::query_scalar::<_, String>(LEFTOVERS)
        .fetch_all(&mut *conn)
        .await
    else {
        return;
    };
    for name in names {
        // Names come from pg_database and are quoted as identifiers.
        let drop = format!("DROP DATABASE IF EXISTS \"{}\"", name.replace('"', "\"\""));
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&mut *conn)
            .await;
    }
}

/// A `sqlite://` URL of a file that does not exist yet, in the temp directory.
pub fn fresh_sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!(
        "checkout-gateway-test-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    format!("sqlite://{}", path.display())
}
