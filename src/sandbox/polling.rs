//! The docs' polling protocol: a polling-enabled call answered with 202
//! `{"polling_url", "wait"}`, each poll before the last round answered with a *new* url, the
//! final poll answered with the original result. Misbehaving clients are counted: a poll before
//! `wait` has passed (`early_polls`, answered with the same polling response again) and a poll
//! on a url that is not the newest of its operation (`stale_polls`, answered 404).
//!
//! The operation's effect (seats held, order made, cart deleted) happens when the call arrives;
//! only its answer is deferred — as upstream, where a reserve "will eventually complete
//! asynchronously" even if nobody polls.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};

use super::SandboxConfig;
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
    Reserve,
    Purchase,
    Delete,
}

impl OpKind {
    fn path(self) -> &'static str {
        match self {
            Self::Reserve => "cart/tickets/PUT",
            Self::Purchase => "cart/PUT",
            Self::Delete => "cart/DELETE",
        }
    }
}

/// A call whose answer is to be delivered through polling.
#[derive(Debug, Clone)]
pub struct Deferred {
    pub cart_id: String,
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
        let cart_id: String = url::form_urlencoded::byte_serialize(d.cart_id.as_bytes()).collect();
        let apikey: String = url::form_urlencoded::byte_serialize(call.apikey.as_bytes()).collect();
        let body = wire::PollingResponse {
            polling_url: format!(
                "{}/polling/{}/{id}?apikey={apikey}&cart_id={cart_id}",
                call.origin,
                d.kind.path()
            ),
            wait: config.poll_wait_secs,
        };
        (id, Reply::json(202, &body))
    }
}

impl State {
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
        if let Some(cart) = self.carts.get_mut(&deferred.cart_id) {
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
        if let Some(cart) = self.carts.get_mut(&op.deferred.cart_id)
            && cart.pending_op == Some(seq)
        {
            cart.pending_op = None;
        }
        final_answer(op.deferred.result, config.final_poll_status)
    }
}

/// The original answer as delivered through a poll: successes take the configured status (the
/// docs' Poll section shows 202; 200 is what clients usually get); a 204 becomes 202 `{}` when
/// that status is 202. Errors keep their own status.
fn final_answer(result: Reply, final_status: u16) -> Reply {
    if !result.is_success() || final_status != 202 {
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
        let ok = Reply::json(200, &serde_json::json!({"a": 1}));
        assert_eq!(final_answer(ok.clone(), 200).status, 200);
        assert_eq!(final_answer(ok, 202).status, 202);
        let deleted = final_answer(Reply::empty(204), 202);
        assert_eq!(deleted.body, reply::Body::Json(serde_json::json!({})));
        assert_eq!(final_answer(Reply::empty(204), 200).status, 204);
        assert_eq!(final_answer(reply::no_inventory(), 202).status, 400);
    }
}
