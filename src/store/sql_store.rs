//! The one implementation of the store traits, written once and stamped out per database.
//!
//! [`sql_store!`] expands to a store struct over a [`Pool`](crate::store::pool::Pool) and its `impl`s of every
//! store trait, for the `DB` it is given. The backends (`postgres.rs`, `sqlite.rs`) invoke it
//! and add only what really differs: pool setup, the migrator, and how to ask whether the
//! migrations table exists. A macro rather than generic code because sqlx's bounds for "any
//! database that can encode these types" would be longer than the logic they guard.
//!
//! Every query text and row conversion lives in [`super::sql`].

/// Binds a [`super::sql::CheckoutRow`] to `$1..$24` of `INSERT_CHECKOUT`/`UPDATE_CHECKOUT`.
macro_rules! bind_checkout {
    ($query:expr, $c:expr) => {{
        let c = $c;
        $query
            .bind(c.id)
            .bind(c.user_id)
            .bind(c.event_id)
            .bind(c.state)
            .bind(c.cart_id)
            .bind(c.requested)
            .bind(c.lines)
            .bind(c.totals)
            .bind(c.hold_expires_at)
            .bind(c.payment)
            .bind(c.order_id)
            .bind(c.failure)
            .bind(c.operation)
            .bind(c.polling_url)
            .bind(c.poll_not_before)
            .bind(c.release_requested)
            .bind(c.client_ip)
            .bind(c.lease_owner)
            .bind(c.lease_until)
            .bind(c.version)
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(c.purchase_started_at)
            .bind(c.next_check_at)
    }};
}

/// Binds a [`super::SendClaim`] of one send to `$25..$29` of the `…_CLAIMING` statements.
macro_rules! bind_claim {
    ($query:expr, $claim:expr) => {{
        let claim: &$crate::store::SendClaim<'_> = $claim;
        $query
            .bind($crate::clock::to_millis(claim.now))
            .bind(i64::from(claim.capacity))
            .bind($crate::clock::to_millis(claim.now - claim.window))
            .bind(claim.budget)
            .bind($crate::store::claim_start(claim.capacity))
    }};
}

/// Binds an [`super::sql::OrderRow`] to `$1..$11` of `INSERT_ORDER`.
macro_rules! bind_order {
    ($query:expr, $o:expr) => {{
        let o = $o;
        $query
            .bind(o.id)
            .bind(o.checkout_id)
            .bind(o.user_id)
            .bind(o.event_id)
            .bind(o.order_token)
            .bind(o.redemption_url)
            .bind(o.app_url)
            .bind(o.grand_total_cents)
            .bind(o.currency)
            .bind(o.source_account_id)
            .bind(o.created_at)
    }};
}

/// Inserts a [`crate::jobs::model::Delivery`] (`INSERT_DELIVERY`) on `$executor`, a
/// transaction's connection: a message is queued with what it announces, or not at all.
macro_rules! insert_delivery {
    ($executor:expr, $d:expr) => {{
        use $crate::clock::to_millis;
        let d: &$crate::jobs::model::Delivery = $d;
        sqlx::query($crate::store::sql_jobs::INSERT_DELIVERY)
            .bind(d.id.to_string())
            .bind(d.run_id.map(|r| r.to_string()))
            .bind(d.order_token.as_str())
            .bind(d.payload.as_str())
            .bind(to_millis(d.next_attempt_at))
            .bind(to_millis(d.dead_after))
            .bind(to_millis(d.created_at))
            .execute($executor)
            .await?;
    }};
}

/// Binds an [`crate::store::IdempotencyKey`] to `$1..$3`.
macro_rules! bind_key {
    ($query:expr, $k:expr) => {{
        let k = $k;
        $query
            .bind(k.scope.as_str())
            .bind(k.user.as_str())
            .bind(k.key.as_str())
    }};
}

/// `sql_store!(Name, Db, migrator, "SQL: does _sqlx_migrations exist? (one bool)",
/// "SQL: the database clock in epoch milliseconds", Option<SQL: a purchase recorded in one
/// statement (see `sql::RECORD_PURCHASE_IN_ONE`)>, Option<(SQL, SQL): a checkout's insert
/// and update each with one quota claim (see `sql::INSERT_CHECKOUT_CLAIMING`)>)`.
macro_rules! sql_store {
    (
        $name:ident,
        $db:ty,
        $migrator:expr,
        $has_migrations_table:expr,
        $now_millis:literal,
        $purchase_in_one:expr,
        $claiming:expr
    ) => {
        /// The store over one connection pool; cloned into every trait object of the bundle.
        #[derive(Clone)]
        pub struct $name {
            pool: $crate::store::pool::Pool<$db>,
        }

        impl $name {
            /// The [`Store`](crate::store::Store) bundle, every part sharing this pool.
            pub fn into_store(self, backend: $crate::store::Backend) -> $crate::store::Store {
                let this = std::sync::Arc::new(self);
                $crate::store::Store {
                    checkouts: this.clone(),
                    orders: this.clone(),
                    accounts: this.clone(),
                    idempotency: this.clone(),
                    quota: this.clone(),
                    jobs: this.clone(),
                    replicas: this.clone(),
                    payment_sessions: this.clone(),
                    renewals: $crate::store::Renewals {
                        replicas: this.clone(),
                        jobs: this.clone(),
                        idempotency: this.clone(),
                    },
                    admin: this,
                    backend,
                }
            }

            /// At most one row, converted to its record (`Corrupt` if it does not convert).
            async fn fetch_record<Row, Record>(
                &self,
                query: sqlx::query::QueryAs<'_, $db, Row, <$db as sqlx::Database>::Arguments>,
            ) -> $crate::store::StoreResult<Option<Record>>
            where
                Row: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                Record: TryFrom<Row, Error = $crate::store::StoreError>,
            {
                query
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Record::try_from)
                    .transpose()
            }

            /// Extend `owner`'s lease on row `id` to `until` with `sql` (`$1` id, `$2`
            /// owner, `$3` until): true when the lease was still `owner`'s.
            async fn renew(
                &self,
                sql: &'static str,
                id: String,
                owner: &str,
                until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query(sql)
                    .bind(id)
                    .bind(owner)
                    .bind($crate::clock::to_millis(until))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        $crate::store::sql_store::impl_checkout_store!($name, $db, $purchase_in_one, $claiming);
        $crate::store::sql_store::impl_order_store!($name, $db);
        $crate::store::sql_store::impl_account_and_idempotency_store!($name, $db);
        $crate::store::sql_store::impl_quota_store!($name, $db);
        $crate::store::sql_store::impl_job_store!($name, $db);
        $crate::store::sql_store::impl_replica_store!($name, $now_millis);
        $crate::store::sql_store::impl_payment_session_store!($name, $db);

        #[async_trait::async_trait]
        impl $crate::store::StoreAdmin for $name {
            async fn migrate(&self) -> $crate::store::StoreResult<()> {
                // `run` wants an `Acquire` for every lifetime, which an `async_trait` method
                // cannot prove for a borrowed connection; `run_direct` is what `run` calls
                // (sqlx names it the way around this error).
                let mut conn = self.pool.acquire().await?;
                $migrator.run_direct(None, &mut *conn, false).await?;
                Ok(())
            }

            async fn ready(&self) -> $crate::store::StoreResult<bool> {
                sqlx::query($crate::store::sql::PING)
                    .execute(&self.pool)
                    .await?;
                let has_table: bool = sqlx::query_scalar($has_migrations_table)
                    .fetch_one(&self.pool)
                    .await?;
                if !has_table {
                    return Ok(false);
                }
                let applied: Vec<i64> = sqlx::query_scalar($crate::store::sql::APPLIED_MIGRATIONS)
                    .fetch_all(&self.pool)
                    .await?;
                Ok($migrator
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .all(|m| applied.contains(&m.version)))
            }
        }
    };
}

pub(crate) use {bind_checkout, bind_claim, bind_key, bind_order, insert_delivery, sql_store};

mod checkouts;
mod jobs;
mod others;
mod replicas;
mod sessions;

pub(crate) use checkouts::impl_checkout_store;
pub(crate) use jobs::impl_job_store;
pub(crate) use others::{impl_account_and_idempotency_store, impl_order_store, impl_quota_store};
pub(crate) use replicas::impl_replica_store;
pub(crate) use sessions::impl_payment_session_store;
