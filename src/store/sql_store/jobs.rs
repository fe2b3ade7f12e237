//! [`JobStore`](crate::store::JobStore) for any backend `sql_store!` is invoked for.

/// `impl JobStore for $name` over the store's [`Pool`](crate::store::pool::Pool).
macro_rules! impl_job_store {
    ($name:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::JobStore for $name {
            async fn claim_run(
                &self,
                claim: &$crate::jobs::model::RunClaim,
            ) -> $crate::store::StoreResult<Option<$crate::jobs::model::JobRun>> {
                use $crate::clock::to_millis;
                let query = sqlx::query_as($crate::store::sql_jobs::CLAIM_RUN)
                    .bind(claim.id.to_string())
                    .bind(claim.job.as_str())
                    .bind(to_millis(claim.scheduled_at))
                    .bind(claim.trigger.as_str())
                    .bind(claim.owner.as_str())
                    .bind(to_millis(claim.lease_until))
                    .bind(to_millis(claim.now));
                self.fetch_record::<$crate::store::sql_jobs::RunRow, _>(query)
                    .await
            }

            async fn renew_run(
                &self,
                id: $crate::ids::RunId,
                owner: &str,
                until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                self.renew(
                    $crate::store::sql_jobs::RENEW_RUN,
                    id.to_string(),
                    owner,
                    until,
                )
                .await
            }

            async fn finish_run(
                &self,
                id: $crate::ids::RunId,
                owner: &str,
                result: &$crate::jobs::model::RunResult,
            ) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query($crate::store::sql_jobs::FINISH_RUN)
                    .bind(id.to_string())
                    .bind(owner)
                    .bind(result.status.as_str())
                    .bind($crate::clock::to_millis(result.finished_at))
                    .bind(result.known_orders)
                    .bind(result.unknown_orders)
                    .bind(result.error.as_deref())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn latest_scheduled_run(
                &self,
                job: $crate::jobs::model::JobName,
            ) -> $crate::store::StoreResult<Option<$crate::jobs::model::JobRun>> {
                let query = sqlx::query_as($crate::store::sql_jobs::LATEST_SCHEDULED_RUN)
                    .bind(job.as_str());
                self.fetch_record::<$crate::store::sql_jobs::RunRow, _>(query)
                    .await
            }

            async fn list_runs(
                &self,
                job: $crate::jobs::model::JobName,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::jobs::model::JobRun>> {
                let rows: Vec<$crate::store::sql_jobs::RunRow> =
                    sqlx::query_as($crate::store::sql_jobs::LIST_RUNS)
                        .bind(job.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn record_finding(
                &self,
                finding: &$crate::jobs::model::Finding,
                delivery: Option<&$crate::jobs::model::Delivery>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql_jobs;
                let f = sql_jobs::FindingRow::from(finding);
                let mut conn = self.pool.acquire().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                sqlx::query(sql_jobs::INSERT_FINDING)
                    .bind(f.run_id)
                    .bind(f.order_token)
                    .bind(f.query)
                    .bind(f.source_account_id)
                    .bind(f.user_id)
                    .bind(f.order_id)
                    .bind(f.event_id)
                    .bind(f.purchased_at)
                    .bind(f.event_starts_at)
                    .bind(f.email_status)
                    .bind(f.recorded_at)
                    .execute(&mut *tx)
                    .await?;
                if let Some(d) = delivery {
                    $crate::store::sql_store::insert_delivery!(&mut *tx, d);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn findings(
                &self,
                run: $crate::ids::RunId,
            ) -> $crate::store::StoreResult<Vec<$crate::jobs::model::Finding>> {
                let rows: Vec<$crate::store::sql_jobs::FindingRow> =
                    sqlx::query_as($crate::store::sql_jobs::LIST_FINDINGS)
                        .bind(run.to_string())
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn claim_deliveries(
                &self,
                claim: &$crate::jobs::model::DeliveryClaim,
            ) -> $crate::store::StoreResult<Vec<$crate::jobs::model::Delivery>> {
                use $crate::clock::to_millis;
                let rows: Vec<$crate::store::sql_jobs::DeliveryRow> =
                    sqlx::query_as($crate::store::sql_jobs::CLAIM_DELIVERIES)
                        .bind(claim.owner.as_str())
                        .bind(to_millis(claim.lease_until))
                        .bind(to_millis(claim.now))
                        .bind(i64::from(claim.limit))
                        .fetch_all(&self.pool)
                        .await?;
                let mut claimed = rows
                    .into_iter()
                    .map($crate::jobs::model::Delivery::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                // RETURNING gives no order: oldest due first, as documented.
                claimed.sort_by(|a, b| (a.next_attempt_at, a.id).cmp(&(b.next_attempt_at, b.id)));
                Ok(claimed)
            }

            async fn finish_attempt(
                &self,
                id: $crate::ids::DeliveryId,
                owner: &str,
                result: &$crate::jobs::model::AttemptResult,
            ) -> $crate::store::StoreResult<bool> {
                let c = $crate::store::sql_jobs::AttemptColumns::from(result);
                let done = sqlx::query($crate::store::sql_jobs::FINISH_ATTEMPT)
                    .bind(id.to_string())
                    .bind(owner)
                    .bind(c.status)
                    .bind(c.next_attempt_at)
                    .bind(c.last_error)
                    .bind(c.delivered_at)
                    .bind(c.now)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_delivery(
                &self,
                id: $crate::ids::DeliveryId,
            ) -> $crate::store::StoreResult<Option<$crate::jobs::model::Delivery>> {
                let query =
                    sqlx::query_as($crate::store::sql_jobs::GET_DELIVERY).bind(id.to_string());
                self.fetch_record::<$crate::store::sql_jobs::DeliveryRow, _>(query)
                    .await
            }

            async fn list_deliveries(
                &self,
                status: $crate::jobs::model::DeliveryStatus,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::jobs::model::Delivery>> {
                let rows: Vec<$crate::store::sql_jobs::DeliveryRow> =
                    sqlx::query_as($crate::store::sql_jobs::LIST_DELIVERIES)
                        .bind(status.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn redrive(
                &self,
                id: $crate::ids::DeliveryId,
                now: chrono::DateTime<chrono::Utc>,
                dead_after: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::clock::to_millis;
                let done = sqlx::query($crate::store::sql_jobs::REDRIVE)
                    .bind(id.to_string())
                    .bind(to_millis(now))
                    .bind(to_millis(dead_after))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delivery_backlog(
                &self,
            ) -> $crate::store::StoreResult<$crate::jobs::model::DeliveryBacklog> {
                let (dead, oldest): (i64, Option<i64>) =
                    sqlx::query_as($crate::store::sql_jobs::DELIVERY_BACKLOG)
                        .fetch_one(&self.pool)
                        .await?;
                Ok($crate::jobs::model::DeliveryBacklog {
                    dead: u64::try_from(dead).unwrap_or(0),
                    oldest_pending: oldest.map($crate::clock::from_millis),
                })
            }
        }
    };
}

pub(crate) use impl_job_store;
