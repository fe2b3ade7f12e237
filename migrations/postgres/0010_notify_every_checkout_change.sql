-- Every replica caches the answers of `GET /v1/checkouts/{id}` (checkout::reads) and drops an
-- entry when another replica announces a change of that checkout. 0008 announced only a
-- change of state or lease holder (what waiters wait for); a cache must hear of every change
-- the partner's answer can show (lines, totals, hold expiry, payment, failure, order,
-- updated_at), and those can change within one state. Every write of those columns bumps
-- `version` (UPDATE_CHECKOUT, record_purchase), so a version change is what announces them;
-- the writes that bump nothing (a release asked for, an unconfirmed purchase nudged) change
-- nothing a partner sees and stay quiet. The payload stays the bare id: replicas of the
-- previous version parse it during a rolling upgrade.

DROP TRIGGER checkouts_notify_change ON checkouts;

CREATE TRIGGER checkouts_notify_change
    AFTER UPDATE ON checkouts
    FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version
          OR OLD.state IS DISTINCT FROM NEW.state
          OR OLD.lease_owner IS DISTINCT FROM NEW.lease_owner)
    EXECUTE FUNCTION notify_checkout_changed();

-- Checkouts are not deleted by the gateway; one removed by hand must not stay cached either.
CREATE FUNCTION notify_checkout_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('checkout_changed', OLD.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER checkouts_notify_removal
    AFTER DELETE ON checkouts
    FOR EACH ROW
    EXECUTE FUNCTION notify_checkout_removed();
