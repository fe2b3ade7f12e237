//! Query texts of checkout leases and replica liveness, shared by both backends (the same rules
//! as [`super::sql`]). A checkout's lease names its owner `{replica id}/{token}`; whether it
//! still holds is decided by that replica's row (see migration 0009), so no lease is renewed
//! while its work runs. The statements that read the database's own clock are macros over that
//! clock's expression, the one thing the two dialects write differently.

// ---- checkout leases -------------------------------------------------------------------------

/// The lease on the `checkouts` row in scope no longer holds at `$now` (an epoch-millis
/// placeholder): the replica its owner names was found dead or retired, or the owner names no
/// replica registered in `replicas` (one of an earlier version, which renews each lease itself)
/// and its `until` has passed. A lease of a live replica holds however old its `until` is:
/// liveness, judged by the database's clock, is the only clock that counts for it.
macro_rules! lease_lapsed {
    ($now:literal) => {
        concat!(
            "(NOT EXISTS (SELECT 1 FROM replicas r WHERE r.alive AND ",
            "substr(checkouts.lease_owner, 1, length(r.id) + 1) = r.id || '/') ",
            "AND (checkouts.lease_until < ",
            $now,
            " OR EXISTS (SELECT 1 FROM replicas r ",
            "WHERE substr(checkouts.lease_owner, 1, length(r.id) + 1) = r.id || '/')))"
        )
    };
}

/// The conditional lease statement, with `$extra` conditions (ending in `AND `) on the row.
macro_rules! try_lease {
    ($extra:literal) => {
        concat!(
            "UPDATE checkouts SET lease_owner = $2, lease_until = $3, version = version + 1 \
             WHERE id = $1 AND ",
            $extra,
            "(lease_owner IS NULL OR lease_owner = $2 OR ",
            lease_lapsed!("$4"),
            ") RETURNING *"
        )
    };
}

/// `$1` id, `$2` owner, `$3` until, `$4` now. One conditional statement, so two racing callers
/// cannot both see the lease free: the database serialises the row update.
pub const TRY_LEASE: &str = try_lease!("");

/// [`TRY_LEASE`] of one user's checkout (`$5`): the ownership check and the lease in one
/// statement, where a request would otherwise read the checkout and then lease it.
pub const TRY_LEASE_FOR_USER: &str = try_lease!("user_id = $5 AND ");

pub const RELEASE_LEASE: &str = "UPDATE checkouts SET lease_owner = NULL, lease_until = NULL, \
     version = version + 1 WHERE id = $1 AND lease_owner = $2";

/// `$1` replica id: the checkouts whose lease names it, with the owner token (a replica looks
/// for leases its own tokens no longer hold: work dropped without handing them back).
/// `substr` rather than `LIKE`, whose `_` would match other replicas' ids.
pub const LEASED_BY: &str = "SELECT id, lease_owner FROM checkouts \
     WHERE lease_owner IS NOT NULL AND substr(lease_owner, 1, length($1) + 1) = $1 || '/'";

/// `$1` now, `$2` abandoned_before, `$3` limit. The states are the ones that hold seats
/// without an operation running (see `CheckoutState::holds_seats`, minus `paying`, which
/// always has an operation).
pub const DUE_FOR_WORK: &str = concat!(
    "SELECT id FROM checkouts WHERE (lease_owner IS NULL OR ",
    lease_lapsed!("$1"),
    ") AND (next_check_at IS NULL OR next_check_at <= $1) \
       AND (operation IS NOT NULL \
            OR (state IN ('reserved', 'payment_accepted') \
                AND (hold_expires_at < $1 OR updated_at < $2))) \
     ORDER BY updated_at, id LIMIT $3"
);

// ---- replicas --------------------------------------------------------------------------------

/// `$1` replica id: it is alive now by the database clock `$now` (an SQL expression of the
/// epoch in milliseconds). A replica marked dead earlier is alive again: the leases another
/// replica took from it meanwhile carry that replica's name now and stay its.
macro_rules! heartbeat_sql {
    ($now:literal) => {
        concat!(
            "INSERT INTO replicas (id, heartbeat_at, started_at, alive) VALUES ($1, ",
            $now,
            ", ",
            $now,
            ", TRUE) ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
             alive = TRUE"
        )
    };
}

/// `$1` milliseconds, `$2` the reaping replica: marks dead every other live replica whose last
/// heartbeat is older than that by the database clock `$now`; the ids marked. Never the
/// reaper itself: a reap that waited for a connection past `dead_after` after its own
/// heartbeat would otherwise mark its own replica dead, and its sweeper would take over its
/// own work still in flight (found by review).
macro_rules! reap_sql {
    ($now:literal) => {
        concat!(
            "UPDATE replicas SET alive = FALSE WHERE alive AND id <> $2 AND heartbeat_at < ",
            $now,
            " - $1 RETURNING id"
        )
    };
}

/// `$1` milliseconds: forgets replicas dead for longer than that (a lease still naming one
/// then holds only until its `until`, long past by then).
macro_rules! forget_dead_sql {
    ($now:literal) => {
        concat!(
            "DELETE FROM replicas WHERE NOT alive AND heartbeat_at < ",
            $now,
            " - $1"
        )
    };
}

pub(crate) use {forget_dead_sql, heartbeat_sql, reap_sql};

/// `$1` replica id: it stopped cleanly; its leases are free at once.
pub const RETIRE: &str = "UPDATE replicas SET alive = FALSE WHERE id = $1";
