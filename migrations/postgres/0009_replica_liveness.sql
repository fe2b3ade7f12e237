-- Replica liveness instead of per-checkout lease renewals. Each running replica heartbeats its
-- row about once a second, by the database's clock (so a replica whose clock is skewed cannot
-- shorten anyone's lease). A checkout's lease owner is `{replica id}/{token}`: while that
-- replica's row is `alive`, its leases hold however old their `lease_until` is; once a live
-- replica finds its heartbeat stale and marks it dead (or it retires at shutdown), every lease
-- it held is free at once. A lease whose owner names no row here (a replica of an earlier
-- version, which renews each lease itself) keeps holding until its `lease_until`.

CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    -- Milliseconds since the epoch, by the database's clock.
    heartbeat_at BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    alive        BOOLEAN NOT NULL
);
