-- Payment fingerprints used to be a keyed digest of the whole request body, card number and
-- CVV included. They are now made from the payment without its card secrets (brand, last4,
-- expiry, billing) under a key of their own, so every payment fingerprint stored before is
-- removed with its key. A repeat of such a payment within the key's last day is then run as
-- a new request, which is safe: a payment goes by the checkout's own state (an accepted one
-- is refused as `invalid_state`, a declined one may be paid again), and it matches the new
-- fingerprint from then on.

DELETE FROM idempotency_keys WHERE scope LIKE 'PUT /v1/checkouts/%/payment';
