-- Quota budgets: besides the per-second quota, optional per-minute, per-hour and per-day
-- budgets (`upstream.requests_per_minute` …). Each budget has its own send slots. The slots
-- only remember when they were last used, which matters for at most one window, so the table
-- is recreated rather than migrated: the worst case is one window's worth of sends that the
-- old slots would have delayed, once, at deploy time.

DROP TABLE upstream_quota_slots;

CREATE TABLE upstream_quota_slots (
    budget  TEXT   NOT NULL,
    slot    BIGINT NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (budget, slot)
);
