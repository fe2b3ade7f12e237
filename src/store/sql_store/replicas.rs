//! [`ReplicaStore`](crate::store::ReplicaStore) for any backend `sql_store!` is invoked for,
//! given the SQL of that database's clock.

/// `impl ReplicaStore for $name`, reading the database clock with `$now` (epoch milliseconds).
macro_rules! impl_replica_store {
    ($name:ident, $now:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::ReplicaStore for $name {
            async fn heartbeat(&self, replica: &str) -> $crate::store::StoreResult<()> {
                sqlx::query($crate::store::sql_leases::heartbeat_sql!($now))
                    .bind(replica)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn reap(
                &self,
                reaper: &str,
                stale: std::time::Duration,
                forget_after: std::time::Duration,
            ) -> $crate::store::StoreResult<Vec<String>> {
                let millis =
                    |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                let reaped: Vec<String> =
                    sqlx::query_scalar($crate::store::sql_leases::reap_sql!($now))
                        .bind(millis(stale))
                        .bind(reaper)
                        .fetch_all(&self.pool)
                        .await?;
                sqlx::query($crate::store::sql_leases::forget_dead_sql!($now))
                    .bind(millis(forget_after))
                    .execute(&self.pool)
                    .await?;
                Ok(reaped)
            }

            async fn retire(&self, replica: &str) -> $crate::store::StoreResult<()> {
                sqlx::query($crate::store::sql_leases::RETIRE)
                    .bind(replica)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_replica_store;
