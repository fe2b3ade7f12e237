//! An independent Partner-API server, written from the seed docs alone (the Partner-App API
//! and its FAQ) and sharing no code with `checkout_gateway`: requests are read and answers
//! built as `serde_json::Value`, shaped exactly as the docs show them, so a mistake shared by
//! the gateway's wire types and its sandbox shows up here.
//!
//! It enforces, answering like upstream and counting each breach in [`StrictStats`]:
//! - `apikey` on every call; `Authorization: Bearer` (from `POST /oauth/accesstoken` with
//!   `Basic base64(apikey:secret)`) on every other call;
//! - `True-Client-IP` on every ticketing and polling call;
//! - the quota: `requests_per_second` over any sliding 1 s window (429 + `Rate-Limit-Reset`);
//! - polling on every "Polling: Yes" call, always: several rounds, a new url each round, the
//!   final answer with 202 (the docs' Poll section; 204 for DELETE); early polls (before
//!   `wait`) and stale polls (not the newest url) are counted;
//! - no concurrent cart updates (FAQ): an update while the cart's previous operation is still
//!   undelivered answers 409;
//! - payment as documented: the Required fields, `amount` as the cart total ("50.00"), card
//!   number and CVV as RSA PKCS#1 v1.5 ciphertexts of 16 printable salt characters + digits.
//!
//! Every other refusal is recorded in [`StrictStats::refusals`]: a correct client gets none.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{SecondsFormat, TimeDelta, Timelike, Utc};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use serde_json::{Value, json};

/// The one event served: the docs' Event model.
pub const EVENT_ID: &str = "3F004CBB88958BF9";
pub const TICKET_ID: &str = "000002040006";
const FACE_VALUE: u64 = 25;
const CERT_ID: &str = "paysys-strict.0.us.1";
const SITE_KEY: &str = "c0d60e1f4a711b710dc3dbe74fbd449c";
const TEST_CARD: &str = "4588883206000011";
const TEST_CVV: &str = "123";

#[derive(Debug, Clone)]
pub struct StrictConfig {
    pub apikey: String,
    pub client_secret: String,
    pub requests_per_second: f64,
    /// `wait` in polling answers, seconds.
    pub poll_wait_secs: f64,
    /// Polling answers before the final one, the call's own 202 included (at least 2).
    pub polling_rounds: u32,
}

impl Default for StrictConfig {
    fn default() -> Self {
        Self {
            apikey: "GkB8Z037ZfqbLCNtZViAgrEegbsrZ6Ne".into(),
            client_secret: "MzK3lcZuLpvGhD9Z".into(),
            requests_per_second: 5.0,
            poll_wait_secs: 0.2,
            polling_rounds: 3,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct StrictStats {
    pub oauth_tokens_issued: u32,
    pub missing_bearer: u32,
    pub missing_true_client_ip: u32,
    pub quota_429s: u32,
    pub early_polls: u32,
    pub stale_polls: u32,
    pub concurrent_updates: u32,
    /// `PUT /cart` calls per cart id.
    pub purchases_by_cart: HashMap<String, u32>,
    pub orders: u32,
    pub carts_deleted: u32,
    /// Carts opened and not deleted.
    pub open_carts: usize,
    /// Every other refusal, as `METHOD path -> status body`.
    pub refusals: Vec<String>,
}

pub struct StrictUpstream {
    base_url: String,
    shared: Arc<Shared>,
}

impl StrictUpstream {
    /// e.g. `http://127.0.0.1:PORT/partners/v1`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn stats(&self) -> StrictStats {
        let st = self.shared.lock();
        StrictStats {
            open_carts: st.carts.len(),
            ..st.stats.clone()
        }
    }

    /// The venue time zone served (chosen so no 2–3 AM maintenance window is near).
    pub fn time_zone(&self) -> &'static str {
        self.shared.time_zone
    }
}

pub async fn spawn_strict(config: StrictConfig) -> StrictUpstream {
    assert!(config.polling_rounds >= 2, "at least two polling rounds");
    let (key, certificate) = tokio::task::spawn_blocking(make_certificate)
        .await
        .expect("certificate task");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("local addr"));
    let shared = Arc::new(Shared {
        config,
        origin: origin.clone(),
        key,
        certificate,
        time_zone: quiet_time_zone(),
        state: Mutex::default(),
    });
    let data = web::Data::from(Arc::clone(&shared));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(dispatch))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    StrictUpstream {
        base_url: format!("{origin}/partners/v1"),
        shared,
    }
}

/// An RSA-2048 key (rcgen's aws-lc backend: fast) and its self-signed certificate as PEM with
/// `\r\n` line ends, like the docs' certificate answer.
fn make_certificate() -> (RsaPrivateKey, String) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let key = RsaPrivateKey::from_pkcs8_der(&pair.serialize_der()).expect("pkcs8");
    let params = rcgen::CertificateParams::new(vec!["paysys.invalid".into()]).expect("params");
    let pem = params.self_signed(&pair).expect("certificate").pem();
    (key, pem.lines().map(|l| format!("{l}\r\n")).collect())
}

/// A zone whose local time is not within an hour of the 2–3 AM maintenance window.
fn quiet_time_zone() -> &'static str {
    ["America/Los_Angeles", "America/New_York", "Asia/Tokyo"]
        .into_iter()
        .find(|zone| {
            zone.parse::<chrono_tz::Tz>()
                .is_ok_and(|tz| !(1..=3).contains(&Utc::now().with_timezone(&tz).hour()))
        })
        .unwrap_or("America/Los_Angeles")
}

struct Shared {
    config: StrictConfig,
    origin: String,
    key: RsaPrivateKey,
    certificate: String,
    time_zone: &'static str,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tokens: HashSet<String>,
    arrivals: VecDeque<Instant>,
    used_captchas: HashSet<String>,
    carts: HashMap<String, Cart>,
    /// Deferred operations by id; polling ids → their operation.
    ops: HashMap<u64, Op>,
    issued: HashMap<String, u64>,
    seq: u64,
    stats: StrictStats,
}

#[derive(Default)]
struct Cart {
    quantity: u64,
    paid: bool,
    purchased: bool,
    /// The operation whose result is not delivered yet: the cart is busy.
    pending: Option<u64>,
}

struct Op {
    cart_id: String,
    path: &'static str,
    newest: String,
    not_before: Instant,
    rounds_left: u32,
    last: Value,
    /// The original answer; `None` = 204.
    result: Option<Value>,
    delivered: bool,
}

/// A refusal: status, body and headers.
struct Refused(u16, Value, Vec<(&'static str, String)>);
type Answer = Result<HttpResponse, Refused>;

fn error(status: u16, code: i64, message: &str) -> Refused {
    let body = json!({"error": {"message": message, "code": code, "http_code": status,
                                "severity": "ERROR"}});
    Refused(status, body, Vec::new())
}

fn fault(status: u16, faultstring: &str, errorcode: &str) -> Refused {
    let body = json!({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}});
    Refused(status, body, Vec::new())
}

fn invalid(what: &str) -> Refused {
    error(400, 10002, &format!("Invalid input data type: {what}"))
}

fn reply(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK)).json(body)
}

fn text<'v>(body: &'v Value, pointer: &str) -> Result<&'v str, Refused> {
    match body.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(invalid(pointer)),
    }
}

fn int(body: &Value, pointer: &str) -> Result<u64, Refused> {
    body.pointer(pointer)
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(pointer))
}

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A whole-dollar amount as the docs write `amount`: "69.00".
fn dollars(amount: u64) -> String {
    format!("{amount}.00")
}

/// What is read from a request before the state is locked.
struct Incoming {
    /// When the call arrived: the quota counts arrivals.
    arrived: Instant,
    body: Result<Value, serde_json::Error>,
    /// Decrypted `card.number` and `card.cin` of a payment, when they decrypt.
    card: (Option<String>, Option<String>),
}

async fn dispatch(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let arrived = Instant::now();
    let path = req.path().strip_prefix("/partners/v1/").unwrap_or("");
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let body = serde_json::from_slice::<Value>(&body);
    // RSA decryption is slow in debug builds: it runs off the worker and outside the lock,
    // so it delays neither other calls' arrival times nor the state.
    let card = match (req.method().as_str(), path, &body) {
        ("PUT", "cart/payment", Ok(json)) => {
            let (sh, json) = (shared.clone().into_inner(), json.clone());
            let reveal = move |field| {
                let b64 = json.pointer(&format!("/payment/card/{field}"))?.as_str()?;
                reveal(&sh, b64)
            };
            web::block(move || (reveal("number"), reveal("cin")))
                .await
                .unwrap_or_default()
        }
        _ => (None, None),
    };
    let incoming = Incoming {
        arrived,
        body,
        card,
    };
    let mut st = shared.lock();
    match st.handle(&shared, &req, path, &query, incoming) {
        Ok(resp) => resp,
        Err(Refused(status, body, headers)) => {
            if status != 429 {
                let line = format!("{} {path} -> {status} {body}", req.method());
                st.stats.refusals.push(line);
            }
            let mut resp = reply(status, &body);
            for (name, value) in headers {
                if let Ok(value) = value.parse() {
                    resp.headers_mut().insert(
                        actix_web::http::header::HeaderName::from_static(name),
                        value,
                    );
                }
            }
            resp
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn handle(
        &mut self,
        sh: &Shared,
        req: &HttpRequest,
        path: &str,
        query: &HashMap<String, String>,
        incoming: Incoming,
    ) -> Answer {
        if query.get("apikey") != Some(&sh.config.apikey) {
            return Err(fault(401, "Invalid ApiKey", "oauth.v2.InvalidApiKey"));
        }
        self.admit(incoming.arrived, sh.config.requests_per_second)?;
        let method = req.method().as_str();
        if (method, path) == ("POST", "oauth/accesstoken") {
            return self.issue_token(sh, req);
        }
        let bearer = header(req, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        if !bearer.is_some_and(|token| self.tokens.contains(token)) {
            self.stats.missing_bearer += 1;
            return Err(fault(
                401,
                "Invalid access token",
                "oauth.v2.InvalidAccessToken",
            ));
        }
        if let ("GET", Some(event_id)) = (method, path.strip_prefix("event/")) {
            return event(sh, event_id);
        }
        if header(req, "true-client-ip").is_none_or(|ip| ip.trim().is_empty()) {
            self.stats.missing_true_client_ip += 1;
            return Err(error(400, 10002, "Missing True-Client-IP header"));
        }
        let json = || incoming.body.as_ref().map_err(|_| invalid("body"));
        let cart_query = || query.get("cart_id").ok_or_else(|| invalid("cart_id"));
        match (method, path) {
            ("GET", "captcha") => Ok(HttpResponse::Ok()
                .insert_header(("X-TM-CAPTCHA-V2-SITEKEY", SITE_KEY))
                .content_type("text/html")
                .body(CAPTCHA_PAGE)),
            ("POST", "cart") => self.open_cart(json()?),
            ("PUT", "cart/tickets") => self.reserve(sh, json()?),
            ("GET", "certificate") => {
                self.cart(cart_query()?)?;
                Ok(reply(200, &json!({"id": CERT_ID, "value": sh.certificate})))
            }
            ("PUT", "cart/payment") => self.payment(json()?, &incoming.card),
            ("PUT", "cart") => self.purchase(sh, json()?),
            ("DELETE", "cart") => self.delete(sh, cart_query()?),
            ("GET", p) if p.starts_with("polling/") => self.poll(sh, p, cart_query()?),
            _ => Err(error(404, 10002, "API endpoint/path not found")),
        }
    }

    /// The quota over a sliding second of arrivals; refused calls do not use it up. Calls
    /// are handled a little out of arrival order, so every admitted arrival less than a
    /// second away counts, before or after.
    fn admit(&mut self, arrived: Instant, rps: f64) -> Result<(), Refused> {
        let second = Duration::from_secs(1);
        self.arrivals
            .retain(|t| arrived.saturating_duration_since(*t) < second);
        if (self.arrivals.len() + 1) as f64 <= rps {
            self.arrivals.push_back(arrived);
            return Ok(());
        }
        self.stats.quota_429s += 1;
        let oldest = self.arrivals.iter().min().copied().unwrap_or(arrived);
        let reset = Utc::now() + (oldest + second).saturating_duration_since(Instant::now());
        let mut refused = fault(
            429,
            "Rate limit quota violation",
            "policies.ratelimit.QuotaViolation",
        );
        refused
            .2
            .push(("rate-limit-reset", reset.timestamp_millis().to_string()));
        Err(refused)
    }

    fn issue_token(&mut self, sh: &Shared, req: &HttpRequest) -> Answer {
        let expected = STANDARD.encode(format!("{}:{}", sh.config.apikey, sh.config.client_secret));
        let basic = header(req, "authorization").and_then(|v| v.strip_prefix("Basic "));
        if basic != Some(expected.as_str()) {
            return Err(fault(
                401,
                "Invalid client credentials",
                "oauth.v2.InvalidClientCredentials",
            ));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.tokens.insert(token.clone());
        self.stats.oauth_tokens_issued += 1;
        Ok(reply(
            200,
            &json!({
                "issued_at": Utc::now().timestamp_millis().to_string(), "scope": "",
                "status": "approved", "expires_in": "3599", "token_type": "BearerToken",
                "client_id": sh.config.apikey, "access_token": token,
            }),
        ))
    }

    fn open_cart(&mut self, body: &Value) -> Answer {
        let token = body.get("token").and_then(Value::as_str).unwrap_or("");
        if token.trim().is_empty() {
            return Err(error(401, 10004, "Unauthorized Access"));
        }
        if !self.used_captchas.insert(token.to_owned()) {
            return Err(error(400, 10031, "Invalid captcha solution."));
        }
        // 0xfbefff encodes as "++//"; 19 bytes end in "==": every character that needs
        // url-encoding is in every cart id.
        let mut raw = vec![0xfb, 0xef, 0xff];
        raw.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        let cart_id = STANDARD.encode(raw);
        self.carts.insert(cart_id.clone(), Cart::default());
        Ok(reply(200, &json!({"cart_id": cart_id})))
    }

    fn cart(&mut self, cart_id: &str) -> Result<&mut Cart, Refused> {
        self.carts
            .get_mut(cart_id)
            .ok_or_else(|| error(404, 10002, "Cart not found"))
    }

    /// The cart for an update: it must exist, be unpurchased, and not be busy (FAQ: the API
    /// does not support concurrent calls to update the cart).
    fn cart_to_update(&mut self, body: &Value) -> Result<(String, &mut Cart), Refused> {
        let cart_id = text(body, "/cart_id")?.to_owned();
        let cart = self
            .carts
            .get_mut(&cart_id)
            .ok_or_else(|| error(404, 10002, "Cart not found"))?;
        if cart.pending.is_some() {
            self.stats.concurrent_updates += 1;
            return Err(error(
                409,
                10002,
                "Another update of this cart is in progress",
            ));
        }
        if cart.purchased {
            return Err(error(400, 21001, "Invalid reserve request data structure"));
        }
        Ok((cart_id, cart))
    }

    fn reserve(&mut self, sh: &Shared, body: &Value) -> Answer {
        if text(body, "/event/id")? != EVENT_ID {
            return Err(error(404, 10002, "Event not found"));
        }
        let tickets = body.pointer("/event/tickets").and_then(Value::as_array);
        let mut quantity = 0;
        for (i, t) in tickets.into_iter().flatten().enumerate() {
            if text(t, "/id")? != TICKET_ID {
                return Err(error(400, 20052, "No inventory found to match request"));
            }
            let q = int(t, "/quantity")?;
            let price_ok = t
                .get("price")
                .is_none_or(|p| p.get("id").and_then(Value::as_u64) == Some(0));
            if q == 0 || !price_ok {
                return Err(invalid(&format!("/event/tickets/{i}")));
            }
            quantity += q;
        }
        if !(1..=10).contains(&quantity) {
            return Err(invalid("/event/tickets"));
        }
        let (cart_id, cart) = self.cart_to_update(body)?;
        cart.quantity = quantity;
        cart.paid = false;
        let result = json!({"cart_id": cart_id, "cart": cart_json(quantity, true)});
        Ok(self.defer(sh, &cart_id, "cart/tickets/PUT", Some(result)))
    }

    fn payment(&mut self, body: &Value, card: &(Option<String>, Option<String>)) -> Answer {
        for field in ["first_name", "last_name", "home_phone", "email_address"] {
            text(body, &format!("/payment/{field}"))?;
        }
        for field in ["line1", "city", "region/abbrev", "postal_code"] {
            text(body, &format!("/payment/address/{field}"))?;
        }
        for field in ["encryption_key", "postal_code"] {
            text(body, &format!("/payment/card/{field}"))?;
        }
        if text(body, "/payment/type")? != "CC" {
            return Err(invalid("/payment/type"));
        }
        if !body
            .pointer("/payment/address/line2")
            .is_some_and(Value::is_string)
        {
            return Err(invalid("/payment/address/line2"));
        }
        if ![840, 124, 36, 484, 554].contains(&int(body, "/payment/address/country/id")?) {
            return Err(invalid("/payment/address/country/id"));
        }
        if !(1..=12).contains(&int(body, "/payment/card/expire_month")?) {
            return Err(invalid("/payment/card/expire_month"));
        }
        int(body, "/payment/card/expire_year")?;
        if text(body, "/payment/card/encryption_key")? != CERT_ID {
            return Err(invalid("/payment/card/encryption_key"));
        }
        let number = card
            .0
            .clone()
            .ok_or_else(|| invalid("/payment/card/number"))?;
        let cin = card.1.clone().ok_or_else(|| invalid("/payment/card/cin"))?;
        let amount = text(body, "/payment/amount")?.to_owned();
        let (_, cart) = self.cart_to_update(body)?;
        if cart.quantity == 0 {
            return Err(error(400, 10002, "No tickets reserved in this cart"));
        }
        if amount != dollars(cart.quantity * FACE_VALUE) {
            return Err(error(400, 20122, "Payment Not Accepted"));
        }
        if number != TEST_CARD {
            return Err(error(400, 20122, "Payment Not Accepted"));
        }
        if cin != TEST_CVV {
            return Err(error(400, 20152, "Please enter a valid security code."));
        }
        cart.paid = true;
        Ok(reply(
            200,
            &json!({"cart": cart_json(cart.quantity, false)}),
        ))
    }

    fn purchase(&mut self, sh: &Shared, body: &Value) -> Answer {
        let cart_id = text(body, "/cart_id")?.to_owned();
        *self
            .stats
            .purchases_by_cart
            .entry(cart_id.clone())
            .or_default() += 1;
        text(body, "/source_account_id")?;
        let (_, cart) = self.cart_to_update(body)?;
        if !cart.paid {
            return Err(error(400, 10002, "Add payment before purchasing"));
        }
        cart.purchased = true;
        let grand = (cart.quantity * FACE_VALUE) as f64;
        self.stats.orders += 1;
        let token = uuid::Uuid::new_v4().to_string();
        let result = json!({
            "redemption_url": format!("https://myorder.ticketmaster.com/redeem?token={token}"),
            "tm_app_url": format!("ticketmaster:///partners/redeem?token={token}"),
            "grand_total": grand,
            "order_token": token,
        });
        Ok(self.defer(sh, &cart_id, "cart/PUT", Some(result)))
    }

    /// Deleting is allowed at any time ("no longer want to wait through a long, continuing
    /// polling process"); it drops the cart's undelivered operation.
    fn delete(&mut self, sh: &Shared, cart_id: &str) -> Answer {
        let cart = self
            .carts
            .remove(cart_id)
            .ok_or_else(|| error(404, 10002, "Cart not found"))?;
        if let Some(op) = cart.pending {
            self.ops.remove(&op);
        }
        self.stats.carts_deleted += 1;
        Ok(self.defer(sh, cart_id, "cart/DELETE", None))
    }

    /// Registers an operation whose answer comes through polling and returns its first 202.
    fn defer(
        &mut self,
        sh: &Shared,
        cart_id: &str,
        path: &'static str,
        result: Option<Value>,
    ) -> HttpResponse {
        self.seq += 1;
        let op_id = self.seq;
        let (newest, last) = self.issue(sh, op_id, cart_id, path);
        if let Some(cart) = self.carts.get_mut(cart_id) {
            cart.pending = Some(op_id);
        }
        let op = Op {
            cart_id: cart_id.to_owned(),
            path,
            newest,
            not_before: Instant::now() + wait(sh),
            rounds_left: sh.config.polling_rounds - 1,
            last: last.clone(),
            result,
            delivered: false,
        };
        self.ops.insert(op_id, op);
        reply(202, &last)
    }

    fn issue(&mut self, sh: &Shared, op_id: u64, cart_id: &str, path: &str) -> (String, Value) {
        self.seq += 1;
        let poll_id = format!("{:016X}{:016X}", op_id, self.seq);
        self.issued.insert(poll_id.clone(), op_id);
        let url = format!(
            "{}/partners/v1/polling/{path}/{poll_id}?apikey={}&cart_id={}",
            sh.origin,
            encode(&sh.config.apikey),
            encode(cart_id)
        );
        (
            poll_id,
            json!({"polling_url": url, "wait": sh.config.poll_wait_secs}),
        )
    }

    fn poll(&mut self, sh: &Shared, path: &str, cart_id: &str) -> Answer {
        let poll_id = path.rsplit('/').next().unwrap_or_default();
        let op_id = *self
            .issued
            .get(poll_id)
            .ok_or_else(|| error(404, 10002, "Unknown polling url"))?;
        let Some(mut op) = self.ops.remove(&op_id) else {
            return Err(error(404, 10002, "The polled operation was cancelled"));
        };
        let answer = self.advance(sh, op_id, &mut op, path, cart_id);
        self.ops.insert(op_id, op);
        answer
    }

    fn advance(
        &mut self,
        sh: &Shared,
        op_id: u64,
        op: &mut Op,
        path: &str,
        cart_id: &str,
    ) -> Answer {
        let poll_id = path.rsplit('/').next().unwrap_or_default();
        // The poll must name its operation and cart (url-decoded) as the url handed out.
        if path != format!("polling/{}/{poll_id}", op.path) || cart_id != op.cart_id {
            return Err(invalid("polling url"));
        }
        if op.delivered || op.newest != poll_id {
            self.stats.stale_polls += 1;
            return Err(error(404, 10002, "Stale polling url"));
        }
        if Instant::now() < op.not_before {
            self.stats.early_polls += 1;
            return Ok(reply(202, &op.last));
        }
        if op.rounds_left > 0 {
            op.rounds_left -= 1;
            (op.newest, op.last) = self.issue(sh, op_id, &op.cart_id, op.path);
            op.not_before = Instant::now() + wait(sh);
            return Ok(reply(202, &op.last));
        }
        op.delivered = true;
        if let Some(cart) = self.carts.get_mut(&op.cart_id) {
            cart.pending = None;
        }
        Ok(match &op.result {
            Some(result) => reply(202, result),
            None => HttpResponse::NoContent().finish(),
        })
    }
}

fn wait(sh: &Shared) -> Duration {
    Duration::from_secs_f64(sh.config.poll_wait_secs)
}

/// Decrypts a card field: 16 printable ASCII salt characters, then digits.
fn reveal(sh: &Shared, b64: &str) -> Option<String> {
    let ciphertext = STANDARD.decode(b64).ok()?;
    let plain = String::from_utf8(sh.key.decrypt(Pkcs1v15Encrypt, &ciphertext).ok()?).ok()?;
    let (salt, digits) = (plain.get(..16)?, plain.get(16..)?);
    let salted = salt.bytes().all(|b| (0x20..=0x7e).contains(&b));
    (salted && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.to_owned())
}

/// The docs' reserve answer for `quantity` seats of the one ticket type.
fn cart_json(quantity: u64, unpaid: bool) -> Value {
    let total = quantity * FACE_VALUE;
    let charge = |kind: &str, price: u64| json!({"price": price, "quantity": quantity, "tax": 0, "type": kind});
    json!({
        "hold_time": 299,
        "items": [{
            "end_seat_number": (6 + quantity).to_string(), "event_id": EVENT_ID,
            "num_seats": quantity, "row": "I", "section": "CLB234", "start_seat_number": "7",
            "tickets": [{
                "charges": [charge("distance", 0), charge("face_value", FACE_VALUE),
                            charge("facility", 0), charge("service", 0)],
                "description": "GPAS1", "id": TICKET_ID, "quantity": quantity
            }],
            "totals": {"currency_code": "USD", "fee": 0, "grand": total, "merchandise": total, "tax": 0}
        }],
        "totals": {"delivery": 0, "fee": 0, "grand": total, "merchandise": total, "tax": 0,
                   "unpaid": if unpaid { total } else { 0 }, "upsell": 0}
    })
}

fn event(sh: &Shared, event_id: &str) -> Answer {
    if event_id != EVENT_ID {
        return Err(error(404, 10002, "Event not found"));
    }
    let at =
        |days: i64| (Utc::now() + TimeDelta::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let date = |days| json!({"format": "datetime", "value": at(days)});
    let price = json!({"amount": FACE_VALUE, "display_amount": FACE_VALUE, "id": 0,
        "price_details": [{"amount": {"amount": FACE_VALUE, "currency": "USD"}, "type": "face_value"}]});
    let bound = json!({"display_amount": FACE_VALUE, "face_value": FACE_VALUE, "fees": 0});
    Ok(reply(
        200,
        &json!({
            "api_transactable": true,
            "event": {
                "tickets": [{"description": "GPAS1", "id": TICKET_ID, "prices": [price],
                             "quantities": {"exact": 0, "limit": 10, "minimum": 1, "multiple": 1}}],
                "artists": [{"id": 916285, "name": "Seattle Sounders FC", "rank": 1,
                             "single_performer_or_band": false}],
                "currency_code": "USD",
                "event_image": {"height": 115, "width": 205,
                                "location": "http://share.livenation.com/images/default_image.jpg"},
                "eventdate": date(30),
                "facility_fee_rollup": true,
                "id": EVENT_ID,
                "name": "Seattle Sounders FC vs. San Jose Earthquakes",
                "notes": [{"text": "There is a 10 ticket limit per household.", "type": "ticketlimittext"}],
                "offsale": date(29),
                "onsale": date(-30),
                "presales": [{"format": "daterange", "label": "Internet Presale",
                              "value": format!("{}/{}", at(-40), at(-31))}],
                "price_range": {"description": "Prices subject to change", "max": bound, "min": bound},
                "promoter": {"id": 494, "name": "PROMOTED BY VENUE"},
                "publication": date(-60),
                "purchase_organization": "TM",
                "quantities": {"limit": 10},
                "service_fee_rollup": false,
                "statuses": [{"type": "onsale", "value": at(-30)}],
                "type": {"id": 0},
                "url": format!("http://ticketmaster.com/event/{EVENT_ID}"),
                "venue": {
                    "id": 516191,
                    "location": {"address": {"city": "Seattle", "country": {"abbrev": "US"},
                                             "region": {"abbrev": "WA"}},
                                 "time_zone": sh.time_zone},
                    "markets": [{"id": 42, "name": "Greater Seattle Area"}],
                    "name": "CenturyLink Field"
                }
            }
        }),
    ))
}

const CAPTCHA_PAGE: &str = r#"<html>
    <head>
        <script src="https://www.google.com/recaptcha/api.js"></script>
        <script>
        function callback(responseText) {
            location.href = "ticketmaster-g-recaptcha-response://" + responseText;
        }
        </script>
</head>
<body>
    <div class="g-recaptcha" data-sitekey="c0d60e1f4a711b710dc3dbe74fbd449c" data-callback="callback"></div>
</body>
</html>
"#;
