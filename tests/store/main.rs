//! The store conformance suite: every case is one async fn taking a [`Store`], and
//! [`conformance!`] runs it on Postgres and on SQLite, each run on a fresh database, so both
//! backends are held to exactly the same behaviour.

mod accounts;
mod admin;
mod changes;
mod checkouts;
mod fixtures;
mod idempotency;
mod jobs;
mod leases;
mod orders;
mod payment_sessions;
mod pool;
mod quota;

use checkout_gateway::store::Store;
use checkout_gateway::tools::testdb::{fresh_postgres_url, fresh_sqlite_url};

/// Which backend a case runs on.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Postgres,
    Sqlite,
}

/// The URL of a new, empty database on `db`.
pub async fn fresh_url(db: Db) -> String {
    match db {
        Db::Postgres => fresh_postgres_url().await,
        Db::Sqlite => fresh_sqlite_url(),
    }
}

/// A connected store on a new, empty database; not migrated.
pub async fn unmigrated(db: Db) -> Store {
    let url = fresh_url(db).await;
    match Store::connect(&url).await {
        Ok(store) => store,
        Err(e) => panic!("connecting to {url}: {e}"),
    }
}

/// A connected store on a new database with the schema applied.
pub async fn migrated(db: Db) -> Store {
    let store = unmigrated(db).await;
    if let Err(e) = store.migrate().await {
        panic!("migrating {db:?}: {e}");
    }
    store
}

/// `conformance!(setup => case, case, …)` generates `mod postgres` and `mod sqlite`, each with
/// one `#[tokio::test]` per case that calls `super::case(setup(Db::…).await)`. The runtime is
/// multi-threaded so concurrency cases really race.
#[macro_export]
macro_rules! conformance {
    ($setup:path => $($case:ident),+ $(,)?) => {
        $crate::conformance!(@backend postgres, Postgres, $setup => $($case),+);
        $crate::conformance!(@backend sqlite, Sqlite, $setup => $($case),+);
    };
    (@backend $module:ident, $db:ident, $setup:path => $($case:ident),+) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case($setup($crate::Db::$db).await).await;
                }
            )+
        }
    };
}
