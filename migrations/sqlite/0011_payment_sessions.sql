-- Payment sessions of the hosted payment page (`POST /v1/checkouts/{id}/payment-session`). A
-- session is found by the SHA-256 of its token: the token is a credential (whoever holds the
-- link can pay the checkout) and is never stored. `billing` is the partner's prefill of the
-- page's billing fields (JSON; billing only, never card data). A session is over once
-- `used_at` is set (a payment accepted for its checkout, through any session or `PUT
-- …/payment`) or `expires_at` has passed; the sweeper deletes it some time after it expired.
-- Times are BIGINT milliseconds since the epoch, like every other table.

CREATE TABLE payment_sessions (
    token_hash  TEXT NOT NULL PRIMARY KEY,
    checkout_id TEXT NOT NULL REFERENCES checkouts (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    return_url  TEXT NOT NULL,
    billing     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- A payment accepted ends every session of its checkout.
CREATE INDEX payment_sessions_checkout ON payment_sessions (checkout_id);
-- The sweeper deletes expired sessions.
CREATE INDEX payment_sessions_expires ON payment_sessions (expires_at);
