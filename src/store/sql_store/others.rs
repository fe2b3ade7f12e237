//! [`OrderStore`](crate::store::OrderStore), [`AccountStore`](crate::store::AccountStore) and
//! [`IdempotencyStore`](crate::store::IdempotencyStore) and
//! [`QuotaStore`](crate::store::QuotaStore) for any backend `sql_store!` is invoked for.

/// `impl OrderStore for $name` over the store's [`Pool`](crate::store::pool::Pool).
macro_rules! impl_order_store {
    ($name:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::OrderStore for $name {
            async fn get_for_user(
                &self,
                id: $crate::ids::OrderId,
                user: &$crate::checkout::model::UserId,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::Order>> {
                let query = sqlx::query_as($crate::store::sql::GET_ORDER_FOR_USER)
                    .bind(id.to_string())
                    .bind(user.as_str());
                self.fetch_record::<$crate::store::sql::OrderRow, _>(query)
                    .await
            }

            async fn get_by_checkout(
                &self,
                checkout: $crate::ids::CheckoutId,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::Order>> {
                let query = sqlx::query_as($crate::store::sql::GET_ORDER_BY_CHECKOUT)
                    .bind(checkout.to_string());
                self.fetch_record::<$crate::store::sql::OrderRow, _>(query)
                    .await
            }

            async fn find_by_token(
                &self,
                order_token: &str,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::Order>> {
                let query =
                    sqlx::query_as($crate::store::sql::GET_ORDER_BY_TOKEN).bind(order_token);
                self.fetch_record::<$crate::store::sql::OrderRow, _>(query)
                    .await
            }

            async fn list_for_user(
                &self,
                user: &$crate::checkout::model::UserId,
                before: Option<$crate::store::OrderCursor>,
                limit: u32,
            ) -> $crate::store::StoreResult<$crate::store::OrderPage> {
                use $crate::checkout::model::Order;
                use $crate::store::sql;
                let (created_at, id) = sql::order_cursor(before);
                // One row more than asked: its presence is what says a next page exists.
                let rows: Vec<sql::OrderRow> = sqlx::query_as(sql::LIST_ORDERS)
                    .bind(user.as_str())
                    .bind(created_at)
                    .bind(id)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut orders = rows
                    .into_iter()
                    .map(Order::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                let more = orders.len() > limit as usize;
                orders.truncate(limit as usize);
                let next = match orders.last() {
                    Some(last) if more => Some($crate::store::OrderCursor {
                        created_at: last.created_at,
                        id: last.id,
                    }),
                    _ => None,
                };
                Ok($crate::store::OrderPage { orders, next })
            }
        }
    };
}

/// `impl AccountStore` and `impl IdempotencyStore for $name` over the store's
/// [`Pool`](crate::store::pool::Pool).
macro_rules! impl_account_and_idempotency_store {
    ($name:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AccountStore for $name {
            async fn remember(
                &self,
                user: &$crate::checkout::model::UserId,
                source_account_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                sqlx::query(sql::INSERT_ACCOUNT)
                    .bind(user.as_str())
                    .bind(source_account_id)
                    .bind($crate::clock::to_millis(now))
                    .execute(&self.pool)
                    .await?;
                // Inserted, or already there: both leave exactly this pair stored. Anything
                // else means the user or the account is mapped to someone else.
                let pairs: i64 = sqlx::query_scalar(sql::ACCOUNT_PAIR)
                    .bind(user.as_str())
                    .bind(source_account_id)
                    .fetch_one(&self.pool)
                    .await?;
                if pairs == 0 {
                    return Err($crate::store::StoreError::Duplicate);
                }
                Ok(())
            }

            async fn user_for(
                &self,
                source_account_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::UserId>> {
                use $crate::store::sql;
                let user: Option<String> = sqlx::query_scalar(sql::USER_FOR_ACCOUNT)
                    .bind(source_account_id)
                    .fetch_optional(&self.pool)
                    .await?;
                user.as_deref().map(sql::parse_user).transpose()
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::IdempotencyStore for $name {
            async fn begin(
                &self,
                key: &$crate::store::IdempotencyKey,
                fingerprint: &str,
                now: chrono::DateTime<chrono::Utc>,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<$crate::store::Begin> {
                use $crate::clock::to_millis;
                use $crate::store::sql_store::bind_key;
                use $crate::store::{Begin, sql};
                // A key deleted (abandoned, purged) between the upsert and the read is simply
                // tried again; more than a few rounds means something else is wrong.
                for _ in 0..3 {
                    let started = bind_key!(sqlx::query(sql::BEGIN_IDEMPOTENCY), key)
                        .bind(fingerprint)
                        .bind(to_millis(now))
                        .bind(to_millis(expires_at))
                        .execute(&self.pool)
                        .await?;
                    if started.rows_affected() == 1 {
                        return Ok(Begin::Started);
                    }
                    let row: Option<sql::IdempotencyRow> =
                        bind_key!(sqlx::query_as(sql::GET_IDEMPOTENCY), key)
                            .fetch_optional(&self.pool)
                            .await?;
                    let Some(row) = row else { continue };
                    if row.fingerprint != fingerprint {
                        return Ok(Begin::Mismatch);
                    }
                    return Ok(match row.response()? {
                        Some(response) => Begin::Replay(response),
                        None => Begin::InProgress,
                    });
                }
                Err($crate::store::StoreError::Conflict)
            }

            async fn reclaim_stale(
                &self,
                key: &$crate::store::IdempotencyKey,
                fingerprint: &str,
                now: chrono::DateTime<chrono::Utc>,
                stale_before: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::clock::to_millis;
                use $crate::store::sql_store::bind_key;
                let done = bind_key!(sqlx::query($crate::store::sql::RECLAIM_IDEMPOTENCY), key)
                    .bind(fingerprint)
                    .bind(to_millis(now))
                    .bind(to_millis(stale_before))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn renew(
                &self,
                key: &$crate::store::IdempotencyKey,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::sql_store::bind_key;
                let done = bind_key!(sqlx::query($crate::store::sql::RENEW_IDEMPOTENCY), key)
                    .bind($crate::clock::to_millis(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn complete(
                &self,
                key: &$crate::store::IdempotencyKey,
                response: &$crate::store::StoredResponse,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql_store::bind_key;
                bind_key!(sqlx::query($crate::store::sql::COMPLETE_IDEMPOTENCY), key)
                    .bind(i32::from(response.status))
                    .bind(response.body.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn abandon(
                &self,
                key: &$crate::store::IdempotencyKey,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql_store::bind_key;
                bind_key!(sqlx::query($crate::store::sql::ABANDON_IDEMPOTENCY), key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge_expired(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query($crate::store::sql::PURGE_IDEMPOTENCY)
                    .bind($crate::clock::to_millis(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

/// `impl QuotaStore for $name` over the store's [`Pool`](crate::store::pool::Pool).
macro_rules! impl_quota_store {
    ($name:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::QuotaStore for $name {
            async fn claim_send(
                &self,
                ask: &$crate::store::SendClaim<'_>,
            ) -> $crate::store::StoreResult<$crate::store::Claimed> {
                use $crate::clock::{from_millis, to_millis};
                use $crate::store::{Claimed, sql};
                let (now, window) = (ask.now, ask.window);
                let (now_ms, capacity) = (to_millis(now), i64::from(ask.capacity));
                // A round fails to claim when the slots are missing (first use, or a larger
                // quota: they are added) or when concurrent callers took the slots this one
                // meant to take (then others are tried). Each loss is someone else's claim,
                // so `capacity + 2` rounds always end with a claim or a full window.
                for _ in 0..capacity + 2 {
                    let claimed = sqlx::query(sql::CLAIM_QUOTA_SLOTS.as_str())
                        .bind(now_ms)
                        .bind(capacity)
                        .bind(to_millis(now - window))
                        .bind(ask.budget)
                        .bind(i64::from(ask.sends.max(1)))
                        .bind($crate::store::claim_start(ask.capacity))
                        .execute(&self.pool)
                        .await?;
                    if let Ok(granted @ 1..) = u32::try_from(claimed.rows_affected()) {
                        return Ok(Claimed::Granted(granted));
                    }
                    let (slots, oldest): (i64, Option<i64>) = sqlx::query_as(sql::QUOTA_SLOTS)
                        .bind(capacity)
                        .bind(ask.budget)
                        .fetch_one(&self.pool)
                        .await?;
                    if slots < capacity {
                        sqlx::query(sql::ADD_QUOTA_SLOTS)
                            .bind(capacity)
                            .bind(ask.budget)
                            .execute(&self.pool)
                            .await?;
                        continue;
                    }
                    let free_at = from_millis(oldest.unwrap_or(now_ms)) + window;
                    if free_at > now {
                        return Ok(Claimed::FullUntil(free_at));
                    }
                }
                Ok(Claimed::FullUntil(now))
            }
        }
    };
}

pub(crate) use {impl_account_and_idempotency_store, impl_order_store, impl_quota_store};
