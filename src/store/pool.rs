//! The store's connection pool (both backends). It exists for one reason: sqlx's own pool
//! pings every connection on its way back (sqlx-core 0.9, `Floating::return_to_pool`, with no
//! option to turn it off), so every statement costs the database a second round trip, on a
//! task of its own, beside the next statement. On two cores shared with Postgres that cost
//! each step of a purchase 0.3–0.9 ms (`bench flow`, the ping switched off and on in one
//! build, alternating runs; `docs/performance.md`).
//!
//! Here a statement run on the pool (its [`Executor`] impl) hands its connection straight back
//! when it ran to its end, Ok or a database error: nothing is left unsent and the driver
//! reads off anything the server still owes at its next use. Everything else goes back the
//! way sqlx sends it — flushed and pinged on a task, or closed if that fails: a statement
//! dropped before its end (a cancelled request), one that failed on the wire (the connection
//! may be dead), and a connection taken with [`Pool::acquire`] for a transaction or the
//! migrator (a dropped transaction leaves its `ROLLBACK` queued, and the ping sends it now
//! instead of at the connection's next use, which could hold its locks until then).
//!
//! As before: at most `max_connections` open, a caller waits up to the acquire timeout for
//! one (then `PoolTimedOut`: the store reads that as the database unavailable), and a
//! connection idle for over [`IDLE_BEFORE_PING`] is pinged before it is handed out.
//! Connections are recycled after [`MAX_LIFETIME`] (sqlx's default), except an in-memory
//! SQLite database's one connection, which is the database.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sqlx::{ConnectOptions as _, Connection, Database, Either, Execute, Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a pooled connection may sit idle before it is pinged on its way out.
pub const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);
/// A connection older than this is closed when it comes back (the server's per-backend memory
/// does not grow without end).
pub const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Connections a new pool opens before it is used (at most its size): the few a replica's
/// overlapping statements use (a step's write, the work it leaves off the answer's path, a
/// read). Opened on demand instead, each was a wait on a request's path in the first second
/// of a replica's life — about 100 ms for one purchase in nearly every `bench flow` run: a new
/// backend's first statements, not only its connection (`docs/performance.md`).
pub const WARM_CONNECTIONS: u32 = 3;
/// The first wait before connecting again after a failed attempt; doubled up to a second.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// How big a pool is and how long its callers wait.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Whether connections are closed after [`MAX_LIFETIME`]; not for a database that lives
    /// only as long as its connection (in-memory SQLite).
    pub recycle: bool,
}

/// A pool of connections to one database.
pub struct Pool<DB: Database> {
    shared: Arc<Shared<DB>>,
}

impl<DB: Database> Clone for Pool<DB> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Pool<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("sizing", &self.shared.sizing)
            .field("idle", &self.idle())
            .finish()
    }
}

struct Shared<DB: Database> {
    connect: <DB::Connection as Connection>::Options,
    sizing: Sizing,
    /// One per connection in use: connections open never outnumber them plus the idle ones,
    /// and a connection goes back to `idle` before its permit is released.
    permits: Arc<Semaphore>,
    /// Last in, first out: the connections in use stay few and warm.
    idle: Mutex<Vec<Idle<DB>>>,
}

struct Idle<DB: Database> {
    conn: DB::Connection,
    opened: Instant,
    since: Instant,
}

impl<DB: Database> Pool<DB> {
    /// A pool that opens one connection now (so that a wrong URL or an unreachable server
    /// fails here, after the acquire timeout as with sqlx's pool) and the rest when needed.
    pub async fn connect(
        connect: <DB::Connection as Connection>::Options,
        sizing: Sizing,
    ) -> Result<Self, sqlx::Error> {
        let shared = Arc::new(Shared {
            permits: Arc::new(Semaphore::new(sizing.max_connections.max(1) as usize)),
            connect,
            sizing,
            idle: Mutex::new(Vec::new()),
        });
        let deadline = Instant::now() + sizing.acquire_timeout;
        // One after another: SQLite answers "database is locked" to connections that set up
        // a new database file at the same time.
        for _ in 0..WARM_CONNECTIONS.min(sizing.max_connections.max(1)) {
            let conn = shared.open(deadline).await?;
            shared.put_back(conn, Instant::now());
        }
        Ok(Self { shared })
    }

    /// A connection of the pool for several statements (a transaction, the migrator). It
    /// goes back flushed and pinged, as sqlx's pool sends every connection back.
    pub async fn acquire(&self) -> Result<Pooled<DB>, sqlx::Error> {
        let timeout = self.shared.sizing.acquire_timeout;
        tokio::time::timeout(timeout, self.shared.clone().acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// Connections open and idle right now (tests).
    pub fn idle(&self) -> usize {
        self.shared.lock_idle().len()
    }
}

impl<DB: Database> Shared<DB> {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle<DB>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn acquire(self: Arc<Self>) -> Result<Pooled<DB>, sqlx::Error> {
        let deadline = Instant::now() + self.sizing.acquire_timeout;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let Some(mut idle) = self.lock_idle().pop() else {
                let conn = self.open(deadline).await?;
                return Ok(Pooled::new(conn, Instant::now(), permit, self));
            };
            if idle.since.elapsed() <= IDLE_BEFORE_PING || idle.conn.ping().await.is_ok() {
                return Ok(Pooled::new(idle.conn, idle.opened, permit, self));
            }
            // The server dropped it while it sat idle: the next one, or a new one.
        }
    }

    /// A new connection, tried again while the failure is the server's unreachability (a
    /// restart, an outage) until `deadline`, then that failure; a refusal by the server
    /// itself (a wrong password, no such database) is returned at once.
    async fn open(&self, deadline: Instant) -> Result<DB::Connection, sqlx::Error> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.connect.connect().await {
                Ok(conn) => return Ok(conn),
                Err(e @ sqlx::Error::Database(_)) => return Err(e),
                Err(e) if Instant::now() + backoff >= deadline => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "connecting to the database failed; trying again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn put_back(&self, conn: DB::Connection, opened: Instant) {
        let now = Instant::now();
        self.lock_idle().push(Idle {
            conn,
            opened,
            since: now,
        });
    }

    fn expired(&self, opened: Instant) -> bool {
        self.sizing.recycle && opened.elapsed() > MAX_LIFETIME
    }
}

/// A connection taken from a [`Pool`]; dropping it gives it back.
pub struct Pooled<DB: Database> {
    conn: Option<DB::Connection>,
    opened: Instant,
    /// Set once a statement ran to its end on it: it can go back as it is.
    settled: bool,
    shared: Arc<Shared<DB>>,
    /// Released after the connection is back (fields drop after `drop` runs).
    permit: Option<OwnedSemaphorePermit>,
}

impl<DB: Database> Pooled<DB> {
    fn new(
        conn: DB::Connection,
        opened: Instant,
        permit: OwnedSemaphorePermit,
        shared: Arc<Shared<DB>>,
    ) -> Self {
        Self {
            conn: Some(conn),
            opened,
            settled: false,
            shared,
            permit: Some(permit),
        }
    }

    fn conn(&mut self) -> &mut DB::Connection {
        // Only `drop` takes it out.
        self.conn
            .as_mut()
            .expect("a pooled connection is present until dropped")
    }

    /// After a statement ended with `result`: the connection can go back without a ping
    /// unless the failure may have been the connection's own — on the wire, TLS or the
    /// protocol, or the server ending the session (Postgres classes `08` and `57P`, sent as
    /// an error just before it closes the connection).
    fn settle<T>(&mut self, result: &Result<T, sqlx::Error>) {
        self.settled = match result {
            Ok(_) => true,
            Err(sqlx::Error::Database(e)) => !e
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            Err(_) => false,
        };
    }
}

impl<DB: Database> std::ops::Deref for Pooled<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &Self::Target {
        self.conn
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl<DB: Database> std::ops::DerefMut for Pooled<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn()
    }
}

impl<DB: Database> Drop for Pooled<DB> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let expired = self.shared.expired(self.opened);
        if self.settled && !expired && !conn.should_flush() {
            self.shared.put_back(conn, self.opened);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to flush it on (the process is ending): closed by dropping it.
            return;
        };
        let (shared, opened, permit) = (self.shared.clone(), self.opened, self.permit.take());
        runtime.spawn(async move {
            if !expired && conn.ping().await.is_ok() {
                shared.put_back(conn, opened);
            } else {
                let _ = conn.close().await;
            }
            drop(permit);
        });
    }
}

impl<'p, DB: Database> Executor<'p> for &'_ Pool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        let pool = self.clone();
        // Collected before they are yielded: the connection goes back as soon as the
        // statement ends (every caller here collects them anyway).
        let all = async move {
            let mut conn = pool.acquire().await?;
            let all: Result<Vec<_>, _> = conn.conn().fetch_many(query).try_collect().await;
            conn.settle(&all);
            all
        };
        Box::pin(
            futures::stream::once(all)
                .map(|all| match all {
                    Ok(items) => futures::stream::iter(items.into_iter().map(Ok)).left_stream(),
                    Err(e) => futures::stream::once(async { Err(e) }).right_stream(),
                })
                .flatten(),
        )
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let row = conn.conn().fetch_optional(query).await;
            conn.settle(&row);
            row
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            pool.acquire()
                .await?
                .conn()
                .prepare_with(sql, parameters)
                .await
        })
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.conn().describe(sql).await })
    }
}
