-- A request holding an Idempotency-Key renews its claim while it runs (`renewed_at`), so a
-- repeat can tell a first request still running from one whose process died: the key is
-- taken over once its claim has gone unrenewed for `idempotency.takeover_after_secs`,
-- instead of after a fixed five minutes. Keys in progress at deploy time count as renewed
-- when they were claimed.

ALTER TABLE idempotency_keys ADD COLUMN renewed_at BIGINT NOT NULL DEFAULT 0;

UPDATE idempotency_keys SET renewed_at = created_at;
