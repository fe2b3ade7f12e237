//! [`CheckoutStore`](crate::store::CheckoutStore) for any backend `sql_store!` is invoked for.

/// `impl CheckoutStore for $name` over the store's [`Pool`](crate::store::pool::Pool);
/// `$purchase_in_one`: the statement that records a purchase in one round trip, if the
/// database has one; `$claiming`: the insert and the update that each claim a quota slot in
/// the same statement, if it has them.
macro_rules! impl_checkout_store {
    ($name:ident, $db:ty, $purchase_in_one:expr, $claiming:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::CheckoutStore for $name {
            fn claims_in_writes(&self) -> bool {
                let claiming: Option<(&str, &str)> = $claiming;
                claiming.is_some()
            }

            async fn insert_claiming(
                &self,
                checkout: &$crate::checkout::model::Checkout,
                claim: &$crate::store::SendClaim<'_>,
            ) -> $crate::store::StoreResult<u32> {
                use $crate::store::sql;
                let claiming: Option<(&str, &str)> = $claiming;
                let Some((statement, _)) = claiming else {
                    return self.insert(checkout).await.map(|()| 0);
                };
                let cols = sql::CheckoutRow::from_checkout(checkout)?;
                let query =
                    $crate::store::sql_store::bind_checkout!(sqlx::query_scalar(statement), cols);
                let claimed: i64 = $crate::store::sql_store::bind_claim!(query, claim)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_unique)?;
                Ok(u32::try_from(claimed).unwrap_or(0))
            }

            async fn update_claiming(
                &self,
                checkout: &$crate::checkout::model::Checkout,
                claim: &$crate::store::SendClaim<'_>,
            ) -> $crate::store::StoreResult<($crate::store::Written, u32)> {
                use $crate::store::sql;
                let claiming: Option<(&str, &str)> = $claiming;
                let Some((_, statement)) = claiming else {
                    return self.update(checkout).await.map(|written| (written, 0));
                };
                let cols = sql::CheckoutRow::from_checkout(checkout)?;
                let query =
                    $crate::store::sql_store::bind_checkout!(sqlx::query_as(statement), cols);
                let (release_requested, claimed): (Option<bool>, i64) =
                    $crate::store::sql_store::bind_claim!(query, claim)
                        .fetch_one(&self.pool)
                        .await?;
                let release_requested =
                    release_requested.ok_or($crate::store::StoreError::Conflict)?;
                Ok((
                    $crate::store::Written { release_requested },
                    u32::try_from(claimed).unwrap_or(0),
                ))
            }

            async fn insert(
                &self,
                checkout: &$crate::checkout::model::Checkout,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                let cols = sql::CheckoutRow::from_checkout(checkout)?;
                $crate::store::sql_store::bind_checkout!(sqlx::query(sql::INSERT_CHECKOUT), cols)
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_unique)?;
                Ok(())
            }

            async fn get(
                &self,
                id: $crate::ids::CheckoutId,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::Checkout>> {
                let query = sqlx::query_as($crate::store::sql::GET_CHECKOUT).bind(id.to_string());
                self.fetch_record::<$crate::store::sql::CheckoutRow, _>(query)
                    .await
            }

            async fn get_for_user(
                &self,
                id: $crate::ids::CheckoutId,
                user: &$crate::checkout::model::UserId,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::Checkout>> {
                let query = sqlx::query_as($crate::store::sql::GET_CHECKOUT_FOR_USER)
                    .bind(id.to_string())
                    .bind(user.as_str());
                self.fetch_record::<$crate::store::sql::CheckoutRow, _>(query)
                    .await
            }

            async fn update(
                &self,
                checkout: &$crate::checkout::model::Checkout,
            ) -> $crate::store::StoreResult<$crate::store::Written> {
                use $crate::store::sql;
                let cols = sql::CheckoutRow::from_checkout(checkout)?;
                let release_requested: Option<bool> = $crate::store::sql_store::bind_checkout!(
                    sqlx::query_scalar(sql::UPDATE_CHECKOUT),
                    cols
                )
                .fetch_optional(&self.pool)
                .await?;
                let release_requested =
                    release_requested.ok_or($crate::store::StoreError::Conflict)?;
                Ok($crate::store::Written { release_requested })
            }

            async fn try_lease(
                &self,
                id: $crate::ids::CheckoutId,
                owner: &str,
                until: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::Checkout>> {
                use $crate::clock::to_millis;
                let query = sqlx::query_as($crate::store::sql_leases::TRY_LEASE)
                    .bind(id.to_string())
                    .bind(owner)
                    .bind(to_millis(until))
                    .bind(to_millis(now));
                self.fetch_record::<$crate::store::sql::CheckoutRow, _>(query)
                    .await
            }

            async fn try_lease_for_user(
                &self,
                id: $crate::ids::CheckoutId,
                user: &$crate::checkout::model::UserId,
                lease: &$crate::checkout::model::Lease,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::checkout::model::Checkout>> {
                use $crate::clock::to_millis;
                let query = sqlx::query_as($crate::store::sql_leases::TRY_LEASE_FOR_USER)
                    .bind(id.to_string())
                    .bind(lease.owner.as_str())
                    .bind(to_millis(lease.until))
                    .bind(to_millis(now))
                    .bind(user.as_str());
                self.fetch_record::<$crate::store::sql::CheckoutRow, _>(query)
                    .await
            }

            async fn leased_by(
                &self,
                replica: &str,
            ) -> $crate::store::StoreResult<Vec<($crate::ids::CheckoutId, String)>> {
                use $crate::store::sql;
                let rows: Vec<(String, String)> =
                    sqlx::query_as($crate::store::sql_leases::LEASED_BY)
                        .bind(replica)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter()
                    .map(|(id, owner)| Ok((sql::parse_id(&id)?, owner)))
                    .collect()
            }

            async fn release_lease(
                &self,
                id: $crate::ids::CheckoutId,
                owner: &str,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query($crate::store::sql_leases::RELEASE_LEASE)
                    .bind(id.to_string())
                    .bind(owner)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn record_purchase(
                &self,
                checkout: &$crate::checkout::model::Checkout,
                order: &$crate::checkout::model::Order,
                notice: Option<&$crate::jobs::model::Delivery>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                let cols = sql::CheckoutRow::from_checkout(checkout)?;
                let in_one: Option<&str> = $purchase_in_one;
                if let (Some(statement), None) = (in_one, notice) {
                    let row = sql::OrderRow::from(order);
                    let query =
                        $crate::store::sql_store::bind_checkout!(sqlx::query(statement), cols);
                    let done = $crate::store::sql_store::bind_order!(query, row)
                        .execute(&self.pool)
                        .await
                        .map_err(sql::map_unique)?;
                    if done.rows_affected() == 0 {
                        return Err($crate::store::StoreError::Conflict);
                    }
                    return Ok(());
                }
                // The checkout is written first so that a duplicate order, found second, has
                // something to roll back: dropping `tx` without commit undoes the update.
                let mut conn = self.pool.acquire().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let done = $crate::store::sql_store::bind_checkout!(
                    sqlx::query(sql::UPDATE_CHECKOUT),
                    cols
                )
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::Conflict);
                }
                let row = sql::OrderRow::from(order);
                $crate::store::sql_store::bind_order!(sqlx::query(sql::INSERT_ORDER), row)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql::map_unique)?;
                if let Some(d) = notice {
                    $crate::store::sql_store::insert_delivery!(&mut *tx, d);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_by_state(
                &self,
                states: &[$crate::checkout::state::CheckoutState],
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::checkout::model::Checkout>> {
                use $crate::store::sql;
                if states.is_empty() {
                    return Ok(Vec::new());
                }
                // The list length varies, so the `IN (…)` is built; only placeholders are
                // pushed as text, every value is bound.
                let mut builder = sqlx::QueryBuilder::<$db>::new(sql::LIST_BY_STATE_PREFIX);
                let mut list = builder.separated(", ");
                for state in states {
                    list.push_bind(state.as_str());
                }
                builder.push(sql::LIST_BY_STATE_SUFFIX);
                builder.push_bind(i64::from(limit));
                let rows: Vec<sql::CheckoutRow> =
                    builder.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map($crate::checkout::model::Checkout::try_from)
                    .collect()
            }

            async fn unsettled_purchases(
                &self,
                user: &$crate::checkout::model::UserId,
                event_id: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::checkout::model::Checkout>> {
                use $crate::store::sql;
                let rows: Vec<sql::CheckoutRow> = sqlx::query_as(sql::UNSETTLED_PURCHASES)
                    .bind(user.as_str())
                    .bind(event_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map($crate::checkout::model::Checkout::try_from)
                    .collect()
            }

            async fn nudge_unconfirmed(
                &self,
                user: &$crate::checkout::model::UserId,
                event_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query($crate::store::sql::NUDGE_UNCONFIRMED)
                    .bind(user.as_str())
                    .bind(event_id)
                    .bind($crate::clock::to_millis(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn request_release(
                &self,
                id: $crate::ids::CheckoutId,
            ) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query($crate::store::sql::REQUEST_RELEASE)
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn due_for_work(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                abandoned_before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::ids::CheckoutId>> {
                use $crate::clock::to_millis;
                use $crate::store::sql;
                let ids: Vec<String> = sqlx::query_scalar($crate::store::sql_leases::DUE_FOR_WORK)
                    .bind(to_millis(now))
                    .bind(to_millis(abandoned_before))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                ids.iter().map(|id| sql::parse_id(id)).collect()
            }

            async fn count_by_state(
                &self,
            ) -> $crate::store::StoreResult<Vec<($crate::checkout::state::CheckoutState, i64)>>
            {
                use $crate::store::sql;
                let rows: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_BY_STATE)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(state, n)| Ok((sql::parse_state(&state)?, n)))
                    .collect()
            }
        }
    };
}

pub(crate) use impl_checkout_store;
