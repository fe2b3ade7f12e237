//! The docs' polling protocol: a polling-enabled call answered with 202
//! `{"polling_url", "wait"}`, each poll before the last round answered with a *new* url, the
//! final poll answered with the original result. Misbehaving clients are counted: a poll before
//! `wait` has passed (`early_polls`, answered with the same polling response again) and a poll
//! on a url that is not the newest of its operation (`stale_polls`, answered 404).
//!
//! The operation's effect (seats held, order made, cart deleted) happens when the call arrives;
//! only its answer is deferred — as upstream, where a reserve "will eventually complete
//! asynchronously" even if nobody polls.
//!
//! Which calls poll ([`polls`]): those marked "Polling: Yes" (reserve, purchase, delete), plus
//! `POST /cart` and `PUT /cart/payment` under `unmarked_polling=when_forced`. The status of a
//! final poll whose operation failed is the dialect's `poll_errors`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};

use super::SandboxConfig;
use super::dialect::{Dialect, PollErrors, UnmarkedPolling};
use super::faults::Operation;
use super::gate::{self, Call};
use super::ids;
use super::reply::{self, Reply};
use super::state::{Shared, State};
use crate::upstream::wire;

/// Which call is being answered through polling; names the polling path like the docs'
/// `/polling/cart/tickets/PUT/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    OpenCart,
    Reserve,
    Payment,
    Purchase,
    Delete,
}

impl OpKind {
    fn path(self) -> &'static str {
        match self {
            Self::OpenCart => "cart/POST",
            Self::Reserve => "cart/tickets/PUT",
            Self::Payment => "cart/payment/PUT",
            Self::Purchase => "cart/PUT",
            Self::Delete => "cart/DELETE",
        }
    }
}

/// Whether a call of `op` is answered through polling when polling is forced (by the
/// `X-TM-FORCE-POLLING` header or `force_polling`).
pub fn polls(op: Operation, dialect: &Dialect) -> bool {
    match op {
        Operation::Reserve | Operation::Purchase | Operation::Delete => true,
        Operation::OpenCart | Operation::Payment => {
            dialect.unmarked_polling == UnmarkedPolling::WhenForced
        }
        Operation::Any
        | Operation::Event
        | Operation::Captcha
        | Operation::Certificate
        | Operation::Poll
        | Operation::Unredeemed
        | Operation::Oauth => false,
    }
}

/// A call whose answer is to be delivered through polling.
#[derive(Debug, Clone)]
pub struct Deferred {
    /// The cart the call named; `None` for `POST /cart`, whose client has no cart id yet.
    pub cart_id: Option<String>,
    /// For the maintenance window of the polls.
    pub event_id: Option<&'static str>,
    pub kind: OpKind,
    pub result: Reply,
}

#[derive(Debug)]
struct PendingOp {
    deferred: Deferred,
    current_id: String,
    rounds_left: u32,
    not_before: Instant,
    last_polling: Reply,
}

/// Operations whose result was not yet delivered, and every polling id ever issued.
#[derive(Debug, Default)]
pub struct Polls {
    next_seq: u64,
    ops: HashMap<u64, PendingOp>,
    issued: HashMap<String, u64>,
}

fn wait_of(config: &SandboxConfig) -> Duration {
    Duration::try_from_secs_f64(config.poll_wait_secs).unwrap_or_default()
}

impl Polls {
    /// Issues a new polling id for `seq` and the 202 that carries it.
    fn issue(
        &mut self,
        call: &Call,
        config: &SandboxConfig,
        seq: u64,
        d: &Deferred,
    ) -> (String, Reply) {
        let id = ids::polling_id(seq);
        self.issued.insert(id.clone(), seq);
        let encode =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        let mut polling_url = format!(
            "{}/polling/{}/{id}?apikey={}",
            call.origin,
            d.kind.path(),
            encode(&call.apikey)
        );
        if let Some(cart_id) = &d.cart_id {
            polling_url.push_str(&format!("&cart_id={}", encode(cart_id)));
        }
        let body = wire::PollingResponse {
            polling_url,
            wait: config.poll_wait_secs,
        };
        (id, Reply::json(202, &body))
    }
}

impl State {
    /// The answer to a call: `deferred.result` at once, or the first 202 of its polling when
    /// the call is to poll (see [`polls`]).
    pub fn answer(&mut self, call: &Call, config: &SandboxConfig, deferred: Deferred) -> Reply {
        if call.force_polling {
            self.defer(call, config, deferred)
        } else {
            deferred.result
        }
    }

    /// Registers `deferred` and returns the first 202; the cart (if it still exists) stays busy
    /// until the result is delivered or the cart is deleted.
    pub fn defer(&mut self, call: &Call, config: &SandboxConfig, deferred: Deferred) -> Reply {
        if call.drops_answer() {
            // `drop_after_commit`: the 202 never reaches the client, so nobody can poll. The
            // operation's effect already happened; it completes here, and its cart is not left
            // busy waiting for a poll.
            return Reply::empty(202);
        }
        let seq = self.polls.next_seq;
        self.polls.next_seq += 1;
        let (current_id, polling) = self.polls.issue(call, config, seq, &deferred);
        // A cart already waiting for a poll keeps its mark: only a DELETE of a purchased cart
        // comes here then, and the purchase's answer must stay the one that keeps it busy.
        if let Some(cart) = deferred
            .cart_id
            .as_ref()
            .and_then(|id| self.carts.get_mut(id))
            && cart.pending_op.is_none()
        {
            cart.pending_op = Some(seq);
        }
        self.polls.ops.insert(
            seq,
            PendingOp {
                deferred,
                current_id,
                rounds_left: config.poll_rounds.saturating_sub(1),
                not_before: Instant::now() + wait_of(config),
                last_polling: polling.clone(),
            },
        );
        polling
    }

    /// Drops the pending operation of `cart_id`, if any: its polling urls then answer 404.
    pub fn cancel_pending(&mut self, cart_id: &str) {
        if let Some(seq) = self
            .carts
            .get_mut(cart_id)
            .and_then(|c| c.pending_op.take())
        {
            self.polls.ops.remove(&seq);
        }
    }

    /// Answers a poll on polling id `id`.
    fn poll(&mut self, shared: &Shared, call: &Call, id: &str) -> Reply {
        let Some(&seq) = self.polls.issued.get(id) else {
            return reply::not_found("Polling operation not found");
        };
        let newest = self.polls.ops.get(&seq).map(|op| op.current_id.as_str());
        if newest != Some(id) {
            self.stats.stale_polls += 1;
            return reply::not_found("Polling url is stale or its operation has ended");
        }
        let Some(op) = self.polls.ops.get_mut(&seq) else {
            return reply::not_found("Polling operation not found");
        };
        if let Some(event_id) = op.deferred.event_id
            && let Err(refusal) = shared.check_maintenance(event_id)
        {
            return refusal;
        }
        let config = &shared.config;
        if Instant::now() < op.not_before {
            self.stats.early_polls += 1;
            return op.last_polling.clone();
        }
        if op.rounds_left > 0 {
            op.rounds_left -= 1;
            op.not_before = Instant::now() + wait_of(config);
            let deferred = op.deferred.clone();
            let (new_id, polling) = self.polls.issue(call, config, seq, &deferred);
            if let Some(op) = self.polls.ops.get_mut(&seq) {
                op.current_id = new_id;
                op.last_polling = polling.clone();
            }
            return polling;
        }
        let Some(op) = self.polls.ops.remove(&seq) else {
            return reply::not_found("Polling operation not found");
        };
        if let Some(cart) = op
            .deferred
            .cart_id
            .as_ref()
            .and_then(|id| self.carts.get_mut(id))
            && cart.pending_op == Some(seq)
        {
            cart.pending_op = None;
        }
        let status = FinalStatus {
            success: config.final_poll_status,
            errors: self.dialect.poll_errors,
        };
        final_answer(op.deferred.result, status)
    }
}

/// The statuses of a final poll's answer.
#[derive(Debug, Clone, Copy)]
struct FinalStatus {
    /// Of a success: 200 or 202 ([`SandboxConfig::final_poll_status`]).
    success: u16,
    errors: PollErrors,
}

/// The original answer as delivered through a poll: successes take the configured status (the
/// docs' Poll section shows 202; 200 is what clients usually get), and a 204 becomes 202 `{}`
/// when that status is 202. Errors keep their own status, or are 202 with their error body
/// under `poll_errors=in_202` (the docs' "Response 202 ... originally requested response").
fn final_answer(result: Reply, status: FinalStatus) -> Reply {
    if !result.is_success() {
        return match status.errors {
            PollErrors::OwnStatus => result,
            PollErrors::In202 => Reply {
                status: 202,
                ..result
            },
        };
    }
    if status.success != 202 {
        return result;
    }
    if result.status == 204 {
        return Reply::json(202, &serde_json::json!({}));
    }
    Reply {
        status: 202,
        ..result
    }
}

/// `GET /polling/...`: the last path segment is the polling id.
pub async fn poll(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let call = match gate::admit(&shared, &req, Operation::Poll) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let tail = req.match_info().query("tail");
    let id = tail.rsplit('/').next().unwrap_or_default();
    let reply = shared.lock().poll(&shared, &call, id);
    call.respond(reply).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_answers_follow_the_configured_status() {
        let status = |success, errors| FinalStatus { success, errors };
        let own = PollErrors::OwnStatus;
        let ok = Reply::json(200, &serde_json::json!({"a": 1}));
        assert_eq!(final_answer(ok.clone(), status(200, own)).status, 200);
        assert_eq!(final_answer(ok, status(202, own)).status, 202);
        let deleted = final_answer(Reply::empty(204), status(202, own));
        assert_eq!(deleted.body, reply::Body::Json(serde_json::json!({})));
        assert_eq!(
            final_answer(Reply::empty(204), status(200, own)).status,
            204
        );
    }

    #[test]
    fn failed_operations_answer_202_or_their_own_status() {
        for success in [200, 202] {
            let own = final_answer(
                reply::no_inventory(),
                FinalStatus {
                    success,
                    errors: PollErrors::OwnStatus,
                },
            );
            assert_eq!(own, reply::no_inventory());
            let in_202 = final_answer(
                reply::no_inventory(),
                FinalStatus {
                    success,
                    errors: PollErrors::In202,
                },
            );
            assert_eq!(in_202.status, 202);
            assert_eq!(in_202.body, reply::no_inventory().body);
        }
    }

    #[test]
    fn only_marked_calls_poll_unless_the_dialect_says_otherwise() {
        let literal = Dialect::default();
        let when_forced = Dialect {
            unmarked_polling: UnmarkedPolling::WhenForced,
            ..Dialect::default()
        };
        for op in [Operation::Reserve, Operation::Purchase, Operation::Delete] {
            assert!(polls(op, &literal) && polls(op, &when_forced), "{op}");
        }
        for op in [Operation::OpenCart, Operation::Payment] {
            assert!(!polls(op, &literal) && polls(op, &when_forced), "{op}");
        }
        for op in [
            Operation::Event,
            Operation::Certificate,
            Operation::Unredeemed,
        ] {
            assert!(!polls(op, &when_forced), "{op}");
        }
    }
}
