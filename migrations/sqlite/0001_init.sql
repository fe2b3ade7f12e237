-- The initial schema (SQLite twin of migrations/postgres/0001_init.sql: keep them in step).
-- Every time is INTEGER milliseconds since the epoch, written by the application from its
-- (injectable) clock: nothing here reads the database's own clock. JSON parts are TEXT.
-- No card data has a column anywhere: `payment` is `{"brand", "last4"}` only.
-- `release_requested` is declared BOOLEAN so the driver reads it back as a bool (stored 0/1).

CREATE TABLE checkouts (
    id                TEXT NOT NULL PRIMARY KEY,          -- chk_…
    user_id           TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    state             TEXT NOT NULL,
    cart_id           TEXT,
    requested         TEXT NOT NULL,             -- JSON array of TicketRequest
    lines             TEXT NOT NULL,             -- JSON array of TicketLine
    totals            TEXT,                      -- JSON Totals
    hold_expires_at   INTEGER,
    payment           TEXT,                      -- JSON PaymentSummary
    order_id          TEXT,
    failure           TEXT,                      -- JSON CheckoutFailure
    operation         TEXT,
    polling_url       TEXT,
    poll_not_before   INTEGER,
    release_requested BOOLEAN NOT NULL DEFAULT 0,
    client_ip         TEXT NOT NULL,
    lease_owner       TEXT,
    lease_until       INTEGER,
    version           INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE INDEX checkouts_user_id ON checkouts (user_id);
CREATE INDEX checkouts_state ON checkouts (state);
-- `due_for_work` only ever looks at rows with a pending operation or held seats, oldest first:
-- a partial index over exactly that set keeps the sweep cheap however many final rows pile up.
CREATE INDEX checkouts_due ON checkouts (updated_at)
    WHERE operation IS NOT NULL OR state IN ('reserved', 'payment_accepted');

CREATE TABLE orders (
    id                TEXT NOT NULL PRIMARY KEY,          -- ord_…
    checkout_id       TEXT NOT NULL UNIQUE REFERENCES checkouts (id),
    user_id           TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    order_token       TEXT NOT NULL UNIQUE,
    redemption_url    TEXT NOT NULL,
    app_url           TEXT NOT NULL,
    grand_total_cents INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    source_account_id TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);

CREATE INDEX orders_user_newest ON orders (user_id, created_at DESC, id DESC);

CREATE TABLE accounts (
    user_id           TEXT NOT NULL PRIMARY KEY,
    source_account_id TEXT NOT NULL UNIQUE,
    created_at        INTEGER NOT NULL
);

CREATE TABLE idempotency_keys (
    scope           TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    key             TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
    response_status INTEGER,
    response_body   TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, user_id, key)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
