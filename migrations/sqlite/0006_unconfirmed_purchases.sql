-- A purchase whose answer was lost is settled from proof only (an order found upstream, or the
-- purchase's own answer). Without proof after a while it is `purchase_unconfirmed`, and
-- looked up again now and then:
-- - `purchase_started_at`: when the purchase was requested (it is sent no earlier); orders
--   listed upstream are matched against it, and it starts the clock to `purchase_unconfirmed`.
-- - `next_check_at`: a checkout with an operation is not due for work before this (the next
--   lookup of an unconfirmed purchase).
-- Purchases in flight at deploy time count from their last update.
-- A webhook delivery may also be a checkout's notice (a purchase confirmed late), which
-- belongs to no job run: SQLite cannot drop NOT NULL in place, so the table is rebuilt.

ALTER TABLE checkouts ADD COLUMN purchase_started_at BIGINT;
ALTER TABLE checkouts ADD COLUMN next_check_at BIGINT;

UPDATE checkouts SET purchase_started_at = updated_at
    WHERE state IN ('purchasing', 'purchase_unknown');

CREATE TABLE webhook_deliveries_0006 (
    id              TEXT NOT NULL PRIMARY KEY,
    run_id          TEXT REFERENCES job_runs (id),
    order_token     TEXT NOT NULL,
    payload         TEXT NOT NULL,
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

INSERT INTO webhook_deliveries_0006 (id, run_id, order_token, payload, status, attempts,
    next_attempt_at, dead_after, lease_owner, lease_until, last_error, created_at, updated_at,
    delivered_at)
SELECT id, run_id, order_token, payload, status, attempts, next_attempt_at, dead_after,
    lease_owner, lease_until, last_error, created_at, updated_at, delivered_at
FROM webhook_deliveries;

DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_0006 RENAME TO webhook_deliveries;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
