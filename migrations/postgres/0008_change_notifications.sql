-- Requests waiting on a checkout (`Prefer: wait`, a payment waiting for a lease) or on an
-- Idempotency-Key still running are woken by these notifications, on whichever replica they
-- wait, instead of each re-reading the database every 100 ms. Only the changes a waiter
-- waits for notify: a checkout's state or lease holder, a key's status or its removal.
-- Postgres only: SQLite runs one process, whose writes wake its waiters in memory.

CREATE FUNCTION notify_checkout_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('checkout_changed', NEW.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER checkouts_notify_change
    AFTER UPDATE ON checkouts
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          OR OLD.lease_owner IS DISTINCT FROM NEW.lease_owner)
    EXECUTE FUNCTION notify_checkout_changed();

CREATE FUNCTION notify_idempotency_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('idempotency_changed', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER idempotency_keys_notify_status
    AFTER UPDATE ON idempotency_keys
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_idempotency_changed();

CREATE TRIGGER idempotency_keys_notify_removal
    AFTER DELETE ON idempotency_keys
    FOR EACH ROW
    EXECUTE FUNCTION notify_idempotency_changed();
