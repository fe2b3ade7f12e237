//! The soak's simulated users. Each loops over journeys until told to stop: create a checkout,
//! then buy it, release it, walk away from it, or pay with a declined card first. Every call
//! goes to a live replica picked at random and is retried as a careful app would: on a broken
//! connection (a replica was killed), a 5xx, a 429 or a 409 `idempotency_key_in_use`, the same
//! request with the same `Idempotency-Key`, to whichever replica is up — until the answer is a
//! replay (`Idempotent-Replayed`), which is final for that key.
//!
//! What a user saw is kept ([`Tally`]): every answer by step, status and code, and the last
//! state of every checkout it was told about, for [`super::verdict`] to hold the database to.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::fleet::Fleet;
use super::rng::Rng;
use crate::tools::bench::harness::{CARD, EVENT, Env, TICKET, payment_body};

/// A Luhn-valid card the sandbox declines (only the docs' test card is accepted).
pub const DECLINED_CARD: &str = "4111111111111111";
/// How long one call is retried before the user gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(90);
/// How long a pending checkout is read (with `Prefer: wait`) before the user gives up.
const PENDING_LIMIT: Duration = Duration::from_secs(120);

/// What the users saw, summed over all of them.
#[derive(Debug, Default)]
pub struct Tally {
    pub journeys: u64,
    /// `"<step> <status> <code>"` → answers.
    pub answers: BTreeMap<String, u64>,
    /// Calls sent again after a broken connection.
    pub reconnects: u64,
    /// Calls never answered within [`GIVE_UP_AFTER`].
    pub gave_up: u64,
    /// Every checkout a user was given, with the last state it was shown.
    pub last_seen: BTreeMap<String, String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.journeys += other.journeys;
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
        self.reconnects += other.reconnects;
        self.gave_up += other.gave_up;
        self.last_seen.extend(other.last_seen);
    }

    /// Answers with this status, over every step.
    pub fn with_status(&self, status: u16) -> u64 {
        let prefix = format!(" {status} ");
        self.answers
            .iter()
            .filter(|(k, _)| k.contains(&prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The users, running.
pub struct Users(JoinSet<Tally>);

impl Users {
    /// Waits for every user to finish its journey and sums what they saw.
    pub async fn join(mut self) -> Tally {
        let mut total = Tally::default();
        while let Some(done) = self.0.join_next().await {
            if let Ok(tally) = done {
                total.merge(tally);
            }
        }
        total
    }
}

pub fn spawn(
    env: &Arc<Env>,
    fleet: &Arc<Fleet>,
    users: usize,
    seed: u64,
    stop: &CancellationToken,
) -> Users {
    let mut set = JoinSet::new();
    for i in 0..users {
        let user = User {
            env: env.clone(),
            fleet: fleet.clone(),
            token: env.token(&format!("soak-user-{i}")).unwrap_or_default(),
            rng: Rng::new(seed.wrapping_add(i as u64 + 1)),
            tally: Tally::default(),
        };
        let stop = stop.clone();
        set.spawn(user.live(stop));
    }
    Users(set)
}

struct User {
    env: Arc<Env>,
    fleet: Arc<Fleet>,
    token: String,
    rng: Rng,
    tally: Tally,
}

/// One call as the user makes it.
struct Request<'a> {
    step: &'static str,
    method: Method,
    path: &'a str,
    body: Option<Value>,
}

/// An answer: its status and body.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn state(&self) -> &str {
        self.body["state"].as_str().unwrap_or_default()
    }
}

impl User {
    async fn live(mut self, stop: CancellationToken) -> Tally {
        while !stop.is_cancelled() {
            self.tally.journeys += 1;
            self.journey(&stop).await;
            let think = self.rng.between(Duration::ZERO, Duration::from_millis(500));
            tokio::time::sleep(think).await;
        }
        self.tally
    }

    async fn journey(&mut self, stop: &CancellationToken) {
        let quantity = 1 + self.rng.below(4);
        let create = json!({
            "event_id": EVENT,
            "captcha_token": format!("soak-{}", uuid::Uuid::new_v4().simple()),
            "tickets": [{"ticket_id": TICKET, "quantity": quantity}],
        });
        let Some(id) = self.create(create).await else {
            return;
        };
        let path = format!("/v1/checkouts/{id}");
        let choice = self.rng.below(100);
        if stop.is_cancelled() || choice < 10 {
            return; // walks away: the sweeper releases it
        }
        if choice < 20 {
            self.call(Request {
                step: "release",
                method: Method::DELETE,
                path: &path,
                body: None,
            })
            .await;
            return;
        }
        if choice < 30 && !self.pay(&path, DECLINED_CARD).await && self.rng.percent(50) {
            return; // declined, and gives up
        }
        if !self.pay(&path, CARD).await || stop.is_cancelled() || self.rng.percent(5) {
            return;
        }
        let purchase = format!("{path}/purchase");
        if let Some(answer) = self
            .call(Request {
                step: "purchase",
                method: Method::POST,
                path: &purchase,
                body: None,
            })
            .await
        {
            self.settle(&path, answer).await;
        }
    }

    /// Creates a checkout and waits until it is reserved or final; its id when reserved.
    async fn create(&mut self, body: Value) -> Option<String> {
        let answer = self
            .call(Request {
                step: "create",
                method: Method::POST,
                path: "/v1/checkouts",
                body: Some(body),
            })
            .await?;
        let id = answer.body["id"]
            .as_str()
            .or_else(|| answer.body["checkout_id"].as_str())?
            .to_owned();
        let answer = self.settle(&format!("/v1/checkouts/{id}"), answer).await?;
        (answer.state() == "reserved").then_some(id)
    }

    /// Pays with `card`; whether the payment was accepted.
    async fn pay(&mut self, path: &str, card: &str) -> bool {
        let mut body = payment_body();
        body["card"]["number"] = json!(card);
        body["card"]["expire_year"] = json!(2030);
        let payment = format!("{path}/payment");
        let Some(answer) = self
            .call(Request {
                step: "payment",
                method: Method::PUT,
                path: &payment,
                body: Some(body),
            })
            .await
        else {
            return false;
        };
        let answer = self.settle(path, answer).await;
        answer.is_some_and(|a| a.state() == "payment_accepted")
    }

    /// Reads a checkout (with `Prefer: wait`) while it is pending; the last answer.
    async fn settle(&mut self, path: &str, mut answer: Answer) -> Option<Answer> {
        let deadline = Instant::now() + PENDING_LIMIT;
        while answer.status == 202 && Instant::now() < deadline {
            answer = self
                .call(Request {
                    step: "read",
                    method: Method::GET,
                    path,
                    body: None,
                })
                .await?;
            if answer.status == 200 && is_pending(answer.state()) {
                answer.status = 202;
            }
        }
        Some(answer)
    }

    /// Sends `request` until it is answered with something other than a retryable refusal,
    /// or [`GIVE_UP_AFTER`] passes. Records the answer and the checkout state it shows.
    async fn call(&mut self, request: Request<'_>) -> Option<Answer> {
        let key = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + GIVE_UP_AFTER;
        let mut attempt = 0u32;
        while Instant::now() < deadline {
            attempt += 1;
            let Some(base) = self.fleet.pick(&mut self.rng) else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut http = self
                .env
                .client
                .request(request.method.clone(), format!("{base}{}", request.path))
                .bearer_auth(&self.token)
                .header("Prefer", "wait=10")
                .timeout(Duration::from_secs(30));
            if request.method != Method::GET {
                http = http.header("Idempotency-Key", &key);
            }
            if let Some(body) = &request.body {
                http = http.json(body);
            }
            let response = match http.send().await {
                Ok(response) => response,
                Err(_) => {
                    self.tally.reconnects += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            // A replayed answer is the key's final one: sending it again changes nothing.
            let replayed = response.headers().contains_key("idempotent-replayed");
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["code"].as_str().unwrap_or("-");
            *self
                .tally
                .answers
                .entry(format!("{} {status} {code}", request.step))
                .or_default() += 1;
            if let Some(id) = body["id"].as_str()
                && let Some(state) = body["state"].as_str()
            {
                self.tally.last_seen.insert(id.to_owned(), state.to_owned());
            } else if status == 204 && request.step == "release" {
                let id = request.path.trim_start_matches("/v1/checkouts/");
                self.tally
                    .last_seen
                    .insert(id.to_owned(), "released".into());
            }
            let retry =
                !replayed && (status >= 500 || status == 429 || code == "idempotency_key_in_use");
            if !retry {
                return Some(Answer { status, body });
            }
            let wait = retry_after.map_or(backoff(attempt), |s| {
                Duration::from_secs(s.min(2)).max(Duration::from_millis(100))
            });
            tokio::time::sleep(wait).await;
        }
        self.tally.gave_up += 1;
        None
    }
}

fn is_pending(state: &str) -> bool {
    matches!(state, "reserving" | "paying" | "purchasing" | "releasing")
}

/// 100 ms, doubling to 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(5)).min(Duration::from_secs(2))
}
