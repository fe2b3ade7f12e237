-- A checkout's change notification names the version written (issue 18). A replica that wrote
-- version N has already dropped its cached read of the checkout and handed the record to the
-- requests waiting on it (checkout::waiters); when the notification of its own write comes
-- back, it can now tell: N, or an older version, is skipped instead of dropping the cache a
-- second time and sending every waiter back to the database. Another replica's write is a
-- newer version, and still drops the cache and wakes the waiters.
--
-- A second channel rather than a new payload on the old one: replicas of the previous version
-- LISTEN on `checkout_changed` and parse its payload as a bare checkout id (a payload they
-- cannot parse is a change they miss, and a stale cache). So `checkout_changed` stays exactly
-- as it was through a rolling upgrade, and new replicas LISTEN on `checkout_versions` only.
-- They never wait for a notification only the old channel carries: a replica serves nothing
-- before every one of its migrations is applied (`serve` applies them first; with
-- `--no-migrate`, `/readyz` stays unready until the migration Job has run). The cost is a
-- second NOTIFY in each committing transaction; a later migration can drop `checkout_changed`
-- once no replica older than this one runs.
--
-- Payload on `checkout_versions`: `<id>:<version>` for an update that moved the version (every
-- update of the gateway that notifies does: UPDATE_CHECKOUT, record_purchase and the lease
-- writes bump it); the bare `<id>` for a removal, or an update that changed the state or the
-- lease without moving the version (only a hand-made one could): those always drop the cache
-- and wake the waiters. Text rather than JSON: one split, and the id exactly as on the old
-- channel.
--
-- It only replaces the two trigger functions of 0008 and 0010; the triggers stay as they are.

CREATE OR REPLACE FUNCTION notify_checkout_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('checkout_changed', NEW.id);
    PERFORM pg_notify('checkout_versions', CASE
        WHEN NEW.version > OLD.version THEN NEW.id || ':' || NEW.version
        ELSE NEW.id
    END);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION notify_checkout_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('checkout_changed', OLD.id);
    PERFORM pg_notify('checkout_versions', OLD.id);
    RETURN NULL;
END;
$$;
