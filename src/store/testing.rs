//! Fresh, empty databases for tests: every test gets its own, so tests run in parallel
//! without seeing each other's rows. Not for production use (it panics on failure, which is
//! what a test wants).

use sqlx::{Connection, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A new, empty Postgres database (`test_<uuid>`) created through `DATABASE_URL` (default: the
/// local `postgres` superuser); returns its URL. Not migrated.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("connecting to {base}: {e}"));
    // The name is generated here (hex only), so formatting it into the statement is safe.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    let _ = conn.close().await;
    let mut url = url::Url::parse(&base).unwrap_or_else(|e| panic!("DATABASE_URL {base}: {e}"));
    url.set_path(&name);
    url.to_string()
}

/// A `sqlite://` URL of a file that does not exist yet, in the temp directory.
pub fn fresh_sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!(
        "checkout-gateway-test-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    format!("sqlite://{}", path.display())
}
