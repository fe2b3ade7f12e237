-- Scheduled jobs and webhook delivery. Times are BIGINT milliseconds since the epoch from the
-- application's clock, like everywhere else.

-- One row per run of a job at a scheduled time: the unique (job, scheduled_at) is what lets
-- exactly one replica run each scheduled time. The lease (owner, until) is renewed while the
-- run works; a run whose lease ran out while still `running` is taken over by another replica.
CREATE TABLE job_runs (
    id             TEXT NOT NULL PRIMARY KEY,             -- run_…
    job            TEXT NOT NULL,                         -- e.g. unredeemed
    scheduled_at   BIGINT NOT NULL,
    trigger        TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status         TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    lease_owner    TEXT,
    lease_until    BIGINT,
    attempts       BIGINT NOT NULL,                       -- claims, takeovers included
    started_at     BIGINT NOT NULL,
    finished_at    BIGINT,
    known_orders   BIGINT NOT NULL,
    unknown_orders BIGINT NOT NULL,
    error          TEXT,
    UNIQUE (job, scheduled_at)
);

-- What a run found: one row per upstream order per run. `user_id`/`order_id` are NULL when the
-- order's source_account_id maps to no user of this gateway (reported, not delivered).
CREATE TABLE unredeemed_findings (
    run_id            TEXT NOT NULL REFERENCES job_runs (id),
    order_token       TEXT NOT NULL,
    query             TEXT NOT NULL,                      -- e.g. days_before_event=3
    source_account_id TEXT NOT NULL,
    user_id           TEXT,
    order_id          TEXT,
    event_id          TEXT NOT NULL,
    purchased_at      BIGINT NOT NULL,
    event_starts_at   BIGINT NOT NULL,
    email_status      BIGINT NOT NULL,
    recorded_at       BIGINT NOT NULL,
    PRIMARY KEY (run_id, order_token)
);

-- One signed webhook message per (run, order), retried until delivered or `dead_after`.
CREATE TABLE webhook_deliveries (
    id              TEXT NOT NULL PRIMARY KEY,            -- msg_… (the webhook-id header)
    run_id          TEXT NOT NULL REFERENCES job_runs (id),
    order_token     TEXT NOT NULL,
    payload         TEXT NOT NULL,                        -- the JSON body, signed as sent
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    dead_after      BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (run_id, order_token)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
