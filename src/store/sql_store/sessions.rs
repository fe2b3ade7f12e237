//! [`PaymentSessionStore`](crate::store::PaymentSessionStore) for any backend `sql_store!` is
//! invoked for.

/// `impl PaymentSessionStore for $name` over the store's [`Pool`](crate::store::pool::Pool).
macro_rules! impl_payment_session_store {
    ($name:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::PaymentSessionStore for $name {
            async fn insert(
                &self,
                session: &$crate::checkout::model::PaymentSession,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::{sql, sql_sessions};
                let row = sql_sessions::SessionRow::from_session(session)?;
                sqlx::query(sql_sessions::INSERT_PAYMENT_SESSION)
                    .bind(row.token_hash)
                    .bind(row.checkout_id)
                    .bind(row.user_id)
                    .bind(row.return_url)
                    .bind(row.billing)
                    .bind(row.created_at)
                    .bind(row.expires_at)
                    .bind(row.used_at)
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_unique)?;
                Ok(())
            }

            async fn get(
                &self,
                token_hash: &$crate::checkout::model::SessionTokenHash,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::PaymentSession>> {
                let query = sqlx::query_as($crate::store::sql_sessions::GET_PAYMENT_SESSION)
                    .bind(token_hash.as_str());
                self.fetch_record::<$crate::store::sql_sessions::SessionRow, _>(query)
                    .await
            }

            async fn end_for_checkout(
                &self,
                checkout: $crate::ids::CheckoutId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query($crate::store::sql_sessions::END_PAYMENT_SESSIONS)
                    .bind(checkout.to_string())
                    .bind($crate::clock::to_millis(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn purge_expired(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query($crate::store::sql_sessions::PURGE_PAYMENT_SESSIONS)
                    .bind($crate::clock::to_millis(before))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_payment_session_store;
