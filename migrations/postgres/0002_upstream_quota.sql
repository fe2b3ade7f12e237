-- The deployment-wide upstream quota (`upstream.requests_per_second`, shared by every
-- replica): one row per send slot, holding when (ms since the epoch) the slot was last used.
-- A send claims a slot last used a whole window ago, so no window holds more sends than the
-- quota has slots. Slots are created on first need (see `QuotaStore::claim_send`).

CREATE TABLE upstream_quota_slots (
    slot    BIGINT NOT NULL PRIMARY KEY,
    used_at BIGINT NOT NULL
);
