//! What both SQL backends share: the query texts, the row shapes and the conversions between
//! rows and domain records.
//!
//! Queries use `$N` placeholders, which Postgres and sqlx's SQLite driver both accept, and only
//! syntax both dialects agree on (`ON CONFLICT`, `RETURNING`, row values). Row structs hold
//! plain column values; turning them into domain types happens here, once, and anything that
//! does not decode is [`StoreError::Corrupt`] rather than a panic.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{OrderCursor, StoreError, StoreResult, StoredResponse};
use crate::checkout::model::{
    Cents, Checkout, CheckoutFailure, ErrorCode, Lease, Operation, Order, PendingPoll, UserId,
};
use crate::checkout::state::CheckoutState;
use crate::clock::{from_millis, to_millis};

// ---- checkouts -------------------------------------------------------------------------------

/// The placeholders follow the field order of [`CheckoutRow`]; `bind_checkout!` binds them.
pub const INSERT_CHECKOUT: &str = "INSERT INTO checkouts (id, user_id, event_id, state, cart_id, \
     requested, lines, totals, hold_expires_at, payment, order_id, failure, operation, \
     polling_url, poll_not_before, release_requested, client_ip, lease_owner, lease_until, \
     version, created_at, updated_at, purchase_started_at, next_check_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24)";

/// Same placeholders as [`INSERT_CHECKOUT`]; `$20` is the version the caller read. Every
/// placeholder is referenced because Postgres refuses a statement with an unused parameter.
/// `release_requested` only ever turns on: a partner's release asked for while a worker
/// drives the checkout (see `request_release`) is not undone by that worker's next write, and
/// that write returns it (the worker learns of the release with no read of its own).
pub const UPDATE_CHECKOUT: &str = "UPDATE checkouts SET user_id = $2, event_id = $3, \
     state = $4, cart_id = $5, requested = $6, lines = $7, totals = $8, hold_expires_at = $9, \
     payment = $10, order_id = $11, failure = $12, operation = $13, polling_url = $14, \
     poll_not_before = $15, release_requested = (release_requested OR $16), client_ip = $17, \
     lease_owner = $18, lease_until = $19, created_at = $21, updated_at = $22, \
     purchase_started_at = $23, next_check_at = $24, version = version + 1 \
     WHERE id = $1 AND version = $20 RETURNING release_requested";

pub const GET_CHECKOUT: &str = "SELECT * FROM checkouts WHERE id = $1";

pub const GET_CHECKOUT_FOR_USER: &str = "SELECT * FROM checkouts WHERE id = $1 AND user_id = $2";

/// The start of `list_by_state`; the `IN (…)` list is built per call.
pub const LIST_BY_STATE_PREFIX: &str = "SELECT * FROM checkouts WHERE state IN (";
pub const LIST_BY_STATE_SUFFIX: &str = ") ORDER BY created_at DESC, id DESC LIMIT ";

/// `$1` user, `$2` event id.
pub const UNSETTLED_PURCHASES: &str = "SELECT * FROM checkouts \
     WHERE user_id = $1 AND event_id = $2 \
       AND state IN ('purchasing', 'purchase_unknown', 'purchase_unconfirmed') \
     ORDER BY created_at, id";

/// `$1` user, `$2` event id, `$3` now: look again at once for the orders of this user's
/// unconfirmed purchases of this event (an order of theirs was just listed upstream).
pub const NUDGE_UNCONFIRMED: &str = "UPDATE checkouts SET operation = 'purchase', \
     next_check_at = $3 \
     WHERE user_id = $1 AND event_id = $2 AND state = 'purchase_unconfirmed'";

/// `$1` id: a partner asked to release while a worker reserves the checkout; the worker picks
/// it up at its next step, or from the write that settles the reservation (which returns the
/// flag). No version bump: the worker's own next write still applies. Only while `reserving`:
/// once the reservation's write is in, nobody would read the flag (the caller releases the
/// reserved checkout itself).
pub const REQUEST_RELEASE: &str =
    "UPDATE checkouts SET release_requested = TRUE WHERE id = $1 AND state = 'reserving'";

pub const COUNT_BY_STATE: &str = "SELECT state, COUNT(*) FROM checkouts GROUP BY state";

// ---- orders ----------------------------------------------------------------------------------

pub const INSERT_ORDER: &str = "INSERT INTO orders (id, checkout_id, user_id, event_id, \
     order_token, redemption_url, app_url, grand_total_cents, currency, source_account_id, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// A purchase recorded in one statement, where the database can (Postgres: a data-modifying
/// `WITH`): the checkout's [`UPDATE_CHECKOUT`] (`$1..$24`) and, only when it matched, the
/// order's insert ([`INSERT_ORDER`]'s columns, `$25..$35`). One round trip and one commit
/// instead of a transaction's begin, two statements and commit; a duplicate order fails the
/// whole statement, the update with it. No row inserted: the checkout moved (`Conflict`).
pub static RECORD_PURCHASE_IN_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let update = UPDATE_CHECKOUT.replace("RETURNING release_requested", "RETURNING id");
    let insert = INSERT_ORDER.split(" VALUES").next().unwrap_or(INSERT_ORDER);
    let values: Vec<String> = (25..=35).map(|n| format!("${n}")).collect();
    format!(
        "WITH written AS ({update}) {insert} SELECT {} FROM written",
        values.join(", ")
    )
});

/// One send's quota claim ([`CLAIM_QUOTA_SLOTS`] for one slot: `$25` now, `$26` capacity,
/// `$27` now - window, `$28` budget, `$29` the slot to look from), to run as a data-modifying
/// `WITH` beside a checkout's write (`$1..$24`) that comes right before an upstream call: the
/// write and the call's slot in one statement and one commit (a write that fails takes its
/// claim with it).
static CLAIM_ONE_QUOTA_SLOT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let free = free_slots(ClaimParams {
        budget: "$28",
        capacity: "$26",
        cutoff: "$27",
        start: "$29",
        limit: "1",
    });
    format!(
        "UPDATE upstream_quota_slots SET used_at = $25 \
         WHERE budget = $28 AND slot IN ({free}) AND used_at <= $27 RETURNING slot"
    )
});

/// [`INSERT_CHECKOUT`] with [`CLAIM_ONE_QUOTA_SLOT`]: answers the slots claimed (0 or 1).
pub static INSERT_CHECKOUT_CLAIMING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let claim = CLAIM_ONE_QUOTA_SLOT.as_str();
    format!(
        "WITH claimed AS ({claim}), written AS ({INSERT_CHECKOUT}) \
         SELECT COUNT(*) FROM claimed"
    )
});

/// [`UPDATE_CHECKOUT`] with [`CLAIM_ONE_QUOTA_SLOT`], the claim made only if the update
/// matched: answers the update's `release_requested` (NULL when the checkout moved:
/// `Conflict`) and the slots claimed.
pub static UPDATE_CHECKOUT_CLAIMING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let claim = CLAIM_ONE_QUOTA_SLOT.replace(
        " RETURNING slot",
        " AND EXISTS (SELECT 1 FROM written) RETURNING slot",
    );
    format!(
        "WITH written AS ({UPDATE_CHECKOUT}), claimed AS ({claim}) \
         SELECT (SELECT release_requested FROM written), (SELECT COUNT(*) FROM claimed)"
    )
});

pub const GET_ORDER_FOR_USER: &str = "SELECT * FROM orders WHERE id = $1 AND user_id = $2";
pub const GET_ORDER_BY_CHECKOUT: &str = "SELECT * FROM orders WHERE checkout_id = $1";
pub const GET_ORDER_BY_TOKEN: &str = "SELECT * FROM orders WHERE order_token = $1";

/// `$1` user, `($2, $3)` the cursor (see [`order_cursor`]), `$4` the
/// page size plus one, so a further page is known to exist without a second query.
pub const LIST_ORDERS: &str = "SELECT * FROM orders \
     WHERE user_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
     ORDER BY created_at DESC, id DESC LIMIT $4";

// ---- accounts --------------------------------------------------------------------------------

/// Conflicts on either unique column are left alone here and sorted out by [`ACCOUNT_PAIR`].
pub const INSERT_ACCOUNT: &str = "INSERT INTO accounts (user_id, source_account_id, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

pub const ACCOUNT_PAIR: &str =
    "SELECT COUNT(*) FROM accounts WHERE user_id = $1 AND source_account_id = $2";

pub const USER_FOR_ACCOUNT: &str = "SELECT user_id FROM accounts WHERE source_account_id = $1";

// ---- idempotency keys ------------------------------------------------------------------------

/// `$1..$3` the key, `$4` fingerprint, `$5` now, `$6` expires_at. Inserts a new key, or takes
/// over one that has expired at `now`, in one statement: one affected row means "started".
pub const BEGIN_IDEMPOTENCY: &str = "INSERT INTO idempotency_keys (scope, user_id, key, \
     fingerprint, status, response_status, response_body, created_at, renewed_at, expires_at) \
     VALUES ($1, $2, $3, $4, 'in_progress', NULL, NULL, $5, $5, $6) \
     ON CONFLICT (scope, user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
       status = 'in_progress', response_status = NULL, response_body = NULL, \
       created_at = excluded.created_at, renewed_at = excluded.renewed_at, \
       expires_at = excluded.expires_at \
     WHERE idempotency_keys.expires_at <= $5";

pub const GET_IDEMPOTENCY: &str = "SELECT fingerprint, status, response_status, response_body \
     FROM idempotency_keys WHERE scope = $1 AND user_id = $2 AND key = $3";

/// `$4` fingerprint, `$5` now, `$6` stale_before: take over a key whose claim has not been
/// renewed since before `$6` (its process died), for the same request only. A claim is as
/// fresh as the later of its renewal and its start: a replica from before renewals (during a
/// rolling upgrade) claims without `renewed_at`, and its request must not look dead at once.
pub const RECLAIM_IDEMPOTENCY: &str = "UPDATE idempotency_keys SET created_at = $5, \
     renewed_at = $5 \
     WHERE scope = $1 AND user_id = $2 AND key = $3 AND status = 'in_progress' \
     AND fingerprint = $4 \
     AND CASE WHEN renewed_at > created_at THEN renewed_at ELSE created_at END <= $6";

/// `$4` now: the request holding an in-progress key is still running. Never moves the renewal
/// back (a replica whose clock is behind would otherwise make the key look stale sooner).
pub const RENEW_IDEMPOTENCY: &str = "UPDATE idempotency_keys \
     SET renewed_at = CASE WHEN renewed_at < $4 THEN $4 ELSE renewed_at END \
     WHERE scope = $1 AND user_id = $2 AND key = $3 AND status = 'in_progress'";

pub const COMPLETE_IDEMPOTENCY: &str = "UPDATE idempotency_keys SET status = 'done', \
     response_status = $4, response_body = $5 \
     WHERE scope = $1 AND user_id = $2 AND key = $3 AND status = 'in_progress'";

pub const ABANDON_IDEMPOTENCY: &str = "DELETE FROM idempotency_keys \
     WHERE scope = $1 AND user_id = $2 AND key = $3 AND status = 'in_progress'";

pub const PURGE_IDEMPOTENCY: &str = "DELETE FROM idempotency_keys WHERE expires_at <= $1";

// ---- upstream quota --------------------------------------------------------------------------

/// `$1` now, `$2` capacity, `$3` now - window, `$4` budget, `$5` how many, `$6` the slot to
/// look from. Takes up to `$5` of the budget's slots below `$2` that were last used at or
/// before `$3` (see [`free_slots`]). The condition is checked again on each row when it is
/// written (Postgres re-evaluates it after waiting for a concurrent writer; SQLite has one
/// writer), so a slot is never taken twice: a row not affected is someone else's claim, and
/// fewer rows are claimed.
pub static CLAIM_QUOTA_SLOTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let free = free_slots(ClaimParams {
        budget: "$4",
        capacity: "$2",
        cutoff: "$3",
        start: "$6",
        limit: "$5",
    });
    format!(
        "UPDATE upstream_quota_slots SET used_at = $1 \
         WHERE budget = $4 AND slot IN ({free}) AND used_at <= $3"
    )
});

/// The placeholders (or literals) of a claim's [`free_slots`] search.
struct ClaimParams {
    budget: &'static str,
    capacity: &'static str,
    cutoff: &'static str,
    start: &'static str,
    limit: &'static str,
}

/// A claim's search: up to `limit` free slots (last used at or before `cutoff`), in slot order
/// from `start` up, then from 0 up to it. Any free slot keeps the quota (each slot is one send
/// a window), and the claimers start at random slots (`store::claim_start`), so concurrent
/// claims seldom want the same row: they commit side by side instead of one waiting for the
/// other's commit and then finding its slot taken. Both halves read the primary key in order
/// and stop at `limit`; `used_at` is in no index, so a claim is a HOT update and leaves no
/// dead index entries behind (the least-recently-used search of migration 0013 walked over
/// every claim's since the last vacuum).
fn free_slots(p: ClaimParams) -> String {
    let ClaimParams {
        budget,
        capacity,
        cutoff,
        start,
        limit,
    } = p;
    let half = |range: &str| {
        format!(
            "SELECT slot FROM (SELECT slot FROM upstream_quota_slots \
             WHERE budget = {budget} AND {range} AND slot < {capacity} AND used_at <= {cutoff} \
             ORDER BY slot LIMIT {limit})"
        )
    };
    format!(
        "SELECT slot FROM ({} AS upper_half UNION ALL {} AS lower_half) AS free LIMIT {limit}",
        half(&format!("slot >= {start}")),
        half(&format!("slot < {start}"))
    )
}

/// `$1` capacity, `$2` budget: how many of its slots exist, and when the least recently used
/// was used (asked only when a claim found none free).
pub const QUOTA_SLOTS: &str = "SELECT COUNT(*), MIN(used_at) FROM upstream_quota_slots \
     WHERE budget = $2 AND slot < $1";

/// `$1` capacity, `$2` budget: every missing slot below `$1`, in one statement (a quota of 200
/// is one round trip, not 200). `WHERE true` keeps SQLite from reading `ON CONFLICT` as a join.
pub const ADD_QUOTA_SLOTS: &str = "WITH RECURSIVE n(slot) AS \
       (SELECT 0 UNION ALL SELECT slot + 1 FROM n WHERE slot + 1 < $1) \
     INSERT INTO upstream_quota_slots (budget, slot, used_at) \
     SELECT $2, slot, 0 FROM n WHERE true ON CONFLICT (budget, slot) DO NOTHING";

// ---- admin -----------------------------------------------------------------------------------

pub const PING: &str = "SELECT 1";

pub const APPLIED_MIGRATIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success";

// ---- rows ------------------------------------------------------------------------------------

/// A `checkouts` row: read back as stored, and built from a checkout to be written (its
/// fields are in the placeholder order of [`INSERT_CHECKOUT`]).
#[derive(Debug, sqlx::FromRow)]
pub struct CheckoutRow {
    pub id: String,
    pub user_id: String,
    pub event_id: String,
    pub state: String,
    pub cart_id: Option<String>,
    pub requested: String,
    pub lines: String,
    pub totals: Option<String>,
    pub hold_expires_at: Option<i64>,
    pub payment: Option<String>,
    pub order_id: Option<String>,
    pub failure: Option<String>,
    pub operation: Option<String>,
    pub polling_url: Option<String>,
    pub poll_not_before: Option<i64>,
    pub release_requested: bool,
    pub client_ip: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub purchase_started_at: Option<i64>,
    pub next_check_at: Option<i64>,
}

impl CheckoutRow {
    /// The columns to write for `c`, in the placeholder order of [`INSERT_CHECKOUT`].
    pub fn from_checkout(c: &Checkout) -> StoreResult<Self> {
        Ok(Self {
            id: c.id.to_string(),
            user_id: c.user_id.as_str().to_owned(),
            event_id: c.event_id.clone(),
            state: c.state.as_str().to_owned(),
            cart_id: c.cart_id.clone(),
            requested: to_json(&c.requested)?,
            lines: to_json(&c.lines)?,
            totals: c.totals.as_ref().map(to_json).transpose()?,
            hold_expires_at: c.hold_expires_at.map(to_millis),
            payment: c.payment.as_ref().map(to_json).transpose()?,
            order_id: c.order_id.map(|id| id.to_string()),
            failure: c
                .failure
                .as_ref()
                .map(|f| to_json(&FailureJson::from(f)))
                .transpose()?,
            operation: c.operation.map(|op| op.as_str().to_owned()),
            polling_url: c.poll.as_ref().map(|p| p.url.clone()),
            poll_not_before: c.poll.as_ref().map(|p| to_millis(p.not_before)),
            release_requested: c.release_requested,
            client_ip: c.client_ip.clone(),
            lease_owner: c.lease.as_ref().map(|l| l.owner.clone()),
            lease_until: c.lease.as_ref().map(|l| to_millis(l.until)),
            version: c.version,
            created_at: to_millis(c.created_at),
            updated_at: to_millis(c.updated_at),
            purchase_started_at: c.purchase_started_at.map(to_millis),
            next_check_at: c.next_check_at.map(to_millis),
        })
    }
}

impl TryFrom<CheckoutRow> for Checkout {
    type Error = StoreError;

    fn try_from(r: CheckoutRow) -> StoreResult<Self> {
        let poll = match (r.polling_url, r.poll_not_before) {
            (Some(url), Some(at)) => Some(PendingPoll {
                url,
                not_before: from_millis(at),
            }),
            (None, None) => None,
            _ => return Err(corrupt("checkout", "polling_url without poll_not_before")),
        };
        let lease = match (r.lease_owner, r.lease_until) {
            (Some(owner), Some(until)) => Some(Lease {
                owner,
                until: from_millis(until),
            }),
            (None, None) => None,
            _ => return Err(corrupt("checkout", "lease_owner without lease_until")),
        };
        Ok(Checkout {
            id: parse_id(&r.id)?,
            user_id: parse_user(&r.user_id)?,
            event_id: r.event_id,
            state: parse_state(&r.state)?,
            cart_id: r.cart_id,
            requested: from_json("requested", &r.requested)?,
            lines: from_json("lines", &r.lines)?,
            totals: r.totals.map(|t| from_json("totals", &t)).transpose()?,
            hold_expires_at: r.hold_expires_at.map(from_millis),
            payment: r.payment.map(|p| from_json("payment", &p)).transpose()?,
            order_id: r.order_id.as_deref().map(parse_id).transpose()?,
            failure: r
                .failure
                .map(|f| from_json::<FailureJson>("failure", &f).map(CheckoutFailure::from))
                .transpose()?,
            operation: r
                .operation
                .map(|op| Operation::parse(&op).ok_or_else(|| corrupt("operation", &op)))
                .transpose()?,
            poll,
            release_requested: r.release_requested,
            client_ip: r.client_ip,
            lease,
            version: r.version,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
            purchase_started_at: r.purchase_started_at.map(from_millis),
            next_check_at: r.next_check_at.map(from_millis),
        })
    }
}

/// The `failure` column's JSON: the code as its contract text, as it was stored before codes
/// were typed, so rows written by either version read the same.
#[derive(Serialize, Deserialize)]
struct FailureJson {
    code: String,
    message: String,
    upstream_code: Option<i64>,
}

impl From<&CheckoutFailure> for FailureJson {
    fn from(f: &CheckoutFailure) -> Self {
        Self {
            code: f.code.as_str().to_owned(),
            message: f.message.clone(),
            upstream_code: f.upstream_code,
        }
    }
}

/// A code this version does not know (written by a newer one, or by hand) must not make the
/// checkout unreadable: it reads as `upstream_unavailable`, the code its failure was answered
/// with before codes were typed, and the message stays as stored.
impl From<FailureJson> for CheckoutFailure {
    fn from(f: FailureJson) -> Self {
        let code = ErrorCode::parse(&f.code).unwrap_or_else(|| {
            tracing::warn!(stored = %f.code, "unknown failure code read as upstream_unavailable");
            ErrorCode::UpstreamUnavailable
        });
        CheckoutFailure::new(code, f.message).with_upstream_code(f.upstream_code)
    }
}

/// An `orders` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub checkout_id: String,
    pub user_id: String,
    pub event_id: String,
    pub order_token: String,
    pub redemption_url: String,
    pub app_url: String,
    pub grand_total_cents: i64,
    pub currency: String,
    pub source_account_id: String,
    pub created_at: i64,
}

impl From<&Order> for OrderRow {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.to_string(),
            checkout_id: o.checkout_id.to_string(),
            user_id: o.user_id.as_str().to_owned(),
            event_id: o.event_id.clone(),
            order_token: o.order_token.clone(),
            redemption_url: o.redemption_url.clone(),
            app_url: o.app_url.clone(),
            grand_total_cents: o.grand_total.0,
            currency: o.currency.clone(),
            source_account_id: o.source_account_id.clone(),
            created_at: to_millis(o.created_at),
        }
    }
}

impl TryFrom<OrderRow> for Order {
    type Error = StoreError;

    fn try_from(r: OrderRow) -> StoreResult<Self> {
        Ok(Order {
            id: parse_id(&r.id)?,
            checkout_id: parse_id(&r.checkout_id)?,
            user_id: parse_user(&r.user_id)?,
            event_id: r.event_id,
            order_token: r.order_token,
            redemption_url: r.redemption_url,
            app_url: r.app_url,
            grand_total: Cents(r.grand_total_cents),
            currency: r.currency,
            source_account_id: r.source_account_id,
            created_at: from_millis(r.created_at),
        })
    }
}

/// An `idempotency_keys` row, as much of it as `begin` needs.
#[derive(Debug, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub fingerprint: String,
    pub status: String,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
}

impl IdempotencyRow {
    /// The stored response of a finished request; `None` while it is still in progress.
    pub fn response(self) -> StoreResult<Option<StoredResponse>> {
        match (
            self.status.as_str(),
            self.response_status,
            self.response_body,
        ) {
            ("in_progress", _, _) => Ok(None),
            ("done", Some(status), Some(body)) => {
                let status = u16::try_from(status)
                    .map_err(|_| corrupt("response_status", &status.to_string()))?;
                Ok(Some(StoredResponse { status, body }))
            }
            (status, _, _) => Err(corrupt("idempotency key", status)),
        }
    }
}

// ---- conversions -----------------------------------------------------------------------------

/// The cursor a first page passes: no row is created at `i64::MAX` ms, so every row is older
/// and the id half of the comparison never matters (no sentinel id that collations could
/// order differently).
pub fn order_cursor(before: Option<OrderCursor>) -> (i64, String) {
    match before {
        Some(c) => (to_millis(c.created_at), c.id.to_string()),
        None => (i64::MAX, String::new()),
    }
}

pub fn parse_state(s: &str) -> StoreResult<CheckoutState> {
    CheckoutState::parse(s).ok_or_else(|| corrupt("state", s))
}

pub fn parse_id<T: std::str::FromStr>(s: &str) -> StoreResult<T> {
    s.parse().map_err(|_| corrupt("id", s))
}

pub fn parse_user(s: &str) -> StoreResult<UserId> {
    UserId::parse(s).ok_or_else(|| corrupt("user_id", s))
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encoding JSON: {e}")))
}

fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected {what}: {value:?}"))
}

/// Unique violations become [`StoreError::Duplicate`]; everything else stays a database error.
pub fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
        _ => StoreError::Database(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_stored_as_before_and_unknown_codes_read_without_failing() {
        let failure = CheckoutFailure::new(ErrorCode::SoldOut, "gone").with_upstream_code(Some(7));
        let json = to_json(&FailureJson::from(&failure)).expect("encodes");
        assert_eq!(
            json,
            r#"{"code":"sold_out","message":"gone","upstream_code":7}"#
        );
        let back: FailureJson = from_json("failure", &json).expect("decodes");
        assert_eq!(CheckoutFailure::from(back), failure);

        let stored = r#"{"code":"from_the_future","message":"kept","upstream_code":null}"#;
        let read =
            CheckoutFailure::from(from_json::<FailureJson>("failure", stored).expect("decodes"));
        assert_eq!(
            read,
            CheckoutFailure::new(ErrorCode::UpstreamUnavailable, "kept")
        );
    }
}
