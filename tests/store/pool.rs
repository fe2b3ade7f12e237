//! The store's connection pool: a statement that ran to its end hands its connection back at
//! once (no ping on the way back, the reason the pool exists); anything that may have left a
//! connection in a state of its own goes back flushed and pinged, or not at all.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Postgres, Sqlite};

use checkout_gateway::store::pool::{Pool, Sizing, WARM_CONNECTIONS};
use checkout_gateway::tools::testdb::{fresh_postgres_url, fresh_sqlite_url};

fn sizing(acquire_timeout: Duration) -> Sizing {
    Sizing {
        max_connections: 1,
        acquire_timeout,
        recycle: true,
    }
}

/// A pool of one connection on a new database, and that database's URL.
async fn postgres() -> (Pool<Postgres>, String) {
    postgres_waiting(Duration::from_secs(5)).await
}

/// [`postgres`] whose callers wait up to `acquire_timeout` for the connection.
async fn postgres_waiting(acquire_timeout: Duration) -> (Pool<Postgres>, String) {
    let url = fresh_postgres_url().await;
    let options = PgConnectOptions::from_str(&url).expect("a test database URL");
    let pool = Pool::connect(options, sizing(acquire_timeout))
        .await
        .expect("connecting the test pool");
    (pool, url)
}

/// The answer of a query of one integer on `pool`.
async fn int(pool: &Pool<Postgres>, sql: &'static str) -> i32 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("a query of one integer")
}

/// Waits (up to 10 s) until `pool` holds `n` idle connections.
async fn until_idle<DB: sqlx::Database>(pool: &Pool<DB>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.idle() != n {
        assert!(Instant::now() < deadline, "the pool never held {n} idle");
        tokio::task::yield_now().await;
    }
}

/// A new pool opens a few connections at once, never more than its size: the first
/// statements a replica overlaps do not wait for a connection to be opened.
#[tokio::test]
async fn a_new_pool_opens_a_few_connections_at_once_within_its_size() {
    let url = fresh_postgres_url().await;
    let options = PgConnectOptions::from_str(&url).expect("a test database URL");
    for (size, warm) in [(10, WARM_CONNECTIONS), (2, 2), (1, 1)] {
        let pool: Pool<Postgres> = Pool::connect(
            options.clone(),
            Sizing {
                max_connections: size,
                ..sizing(Duration::from_secs(5))
            },
        )
        .await
        .expect("connecting the test pool");
        assert_eq!(pool.idle(), warm as usize, "a pool of {size}");
    }
}

// One thread: a connection sent back through a task of its own (the ping) would not be back
// before the check below, which runs before that task can.
#[tokio::test(flavor = "current_thread")]
async fn a_statement_that_ran_to_its_end_goes_back_at_once() {
    let (pool, _) = postgres().await;
    let one = int(&pool, "SELECT 1").await;
    assert_eq!((one, pool.idle()), (1, 1));
    // A refusal by the database is an answer too: the connection is as good as before.
    let refused = sqlx::query("SELECT 1 / 0").execute(&pool).await;
    assert!(
        matches!(refused, Err(sqlx::Error::Database(_))),
        "{refused:?}"
    );
    assert_eq!(pool.idle(), 1);
    assert_eq!(int(&pool, "SELECT 2").await, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_statement_on_sqlite_goes_back_at_once() {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&fresh_sqlite_url())
        .unwrap()
        .create_if_missing(true);
    let pool: Pool<Sqlite> = Pool::connect(options, sizing(Duration::from_secs(5)))
        .await
        .unwrap();
    let rows: Vec<i64> = sqlx::query_scalar("SELECT 1 UNION ALL SELECT 2")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!((rows, pool.idle()), (vec![1, 2], 1));
}

#[tokio::test]
async fn a_dropped_transaction_is_rolled_back_before_its_connection_is_reused() {
    let (pool, url) = postgres().await;
    sqlx::query("CREATE TABLE t (id int PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    {
        let mut conn = pool.acquire().await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        // Dropped without a commit: its ROLLBACK is queued on the connection.
    }
    until_idle(&pool, 1).await;
    // Seen from another session: nothing inserted, and no lock left on the table (an open
    // transaction would hold one until the connection's next use).
    let mut other = PgConnection::connect(&url).await.unwrap();
    let mut check = other.begin().await.unwrap();
    sqlx::query("LOCK TABLE t IN ACCESS EXCLUSIVE MODE NOWAIT")
        .execute(&mut *check)
        .await
        .expect("the dropped transaction still holds its lock");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut *check)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_cancelled_statement_leaves_the_next_one_its_own_answer() {
    let (pool, _) = postgres().await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(20),
        sqlx::query("SELECT pg_sleep(0.3)").execute(&pool),
    )
    .await;
    assert!(cancelled.is_err(), "the sleep was not cut off");
    assert_eq!(int(&pool, "SELECT 42").await, 42);
}

#[tokio::test]
async fn a_connection_the_server_ended_is_replaced() {
    let (pool, url) = postgres().await;
    let pid = int(&pool, "SELECT pg_backend_pid()").await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended);
    // The next statement finds the connection gone; the one after gets a new connection.
    let on_dead = sqlx::query("SELECT 1").execute(&pool).await;
    assert!(on_dead.is_err(), "a statement ran on an ended session");
    assert_ne!(int(&pool, "SELECT pg_backend_pid()").await, pid);
}

#[tokio::test]
async fn a_caller_past_the_pool_size_waits_then_times_out() {
    let (pool, _) = postgres_waiting(Duration::from_millis(200)).await;
    let held = pool.acquire().await.unwrap();
    let waiting = pool.acquire().await;
    assert!(
        matches!(waiting, Err(sqlx::Error::PoolTimedOut)),
        "{:?}",
        waiting.err()
    );
    drop(held);
    assert_eq!(int(&pool, "SELECT 1").await, 1);
}

#[tokio::test]
async fn an_unreachable_server_fails_the_pool_with_its_error() {
    // Port 1 on loopback: nothing listens there.
    let options = PgConnectOptions::from_str("postgres://postgres@127.0.0.1:1/postgres").unwrap();
    let pool = Pool::<Postgres>::connect(options, sizing(Duration::from_millis(200))).await;
    assert!(matches!(pool, Err(sqlx::Error::Io(_))), "{pool:?}");
}
