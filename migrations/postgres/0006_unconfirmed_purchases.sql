-- A purchase whose answer was lost is settled from proof only (an order found upstream, or the
-- purchase's own answer). Without proof after a while it is `purchase_unconfirmed`, and
-- looked up again now and then:
-- - `purchase_started_at`: when the purchase was requested (it is sent no earlier); orders
--   listed upstream are matched against it, and it starts the clock to `purchase_unconfirmed`.
-- - `next_check_at`: a checkout with an operation is not due for work before this (the next
--   lookup of an unconfirmed purchase).
-- Purchases in flight at deploy time count from their last update.
-- A webhook delivery may also be a checkout's notice (a purchase confirmed late), which
-- belongs to no job run.

ALTER TABLE checkouts ADD COLUMN purchase_started_at BIGINT;
ALTER TABLE checkouts ADD COLUMN next_check_at BIGINT;

UPDATE checkouts SET purchase_started_at = updated_at
    WHERE state IN ('purchasing', 'purchase_unknown');

ALTER TABLE webhook_deliveries ALTER COLUMN run_id DROP NOT NULL;
