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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderName;
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
        let open_carts = st.carts.len();
        StrictStats {
            open_carts,
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
    let (key, certificate) = tokio::task::spawn_blocking(make_certificate).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let time_zone = quiet_time_zone();
    let state = Mutex::default();
    let shared = Arc::new(Shared {
        config,
        origin,
        key,
        certificate,
        time_zone,
        state,
    });
    let data = web::Data::from(Arc::clone(&shared));
    let app = move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(dispatch))
    };
    let server = HttpServer::new(app)
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1);
    tokio::spawn(server.listen(listener).unwrap().run());
    let base_url = format!("{}/partners/v1", shared.origin);
    StrictUpstream { base_url, shared }
}

/// An RSA-2048 key (rcgen's aws-lc backend: fast) and its self-signed certificate as PEM with
/// `\r\n` line ends, like the docs' certificate answer.
fn make_certificate() -> (RsaPrivateKey, String) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let key = RsaPrivateKey::from_pkcs8_der(&pair.serialize_der()).unwrap();
    let params = rcgen::CertificateParams::new(vec!["paysys.invalid".into()]).unwrap();
    let pem = params.self_signed(&pair).unwrap().pem();
    (key, pem.lines().map(|l| format!("{l}\r\n")).collect())
}

/// A zone whose local time is not within an hour of the 2–3 AM maintenance window.
fn quiet_time_zone() -> &'static str {
    let quiet = |zone: &&str| {
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        !(1..=3).contains(&Utc::now().with_timezone(&tz).hour())
    };
    let zones = ["America/Los_Angeles", "America/New_York", "Asia/Tokyo"];
    zones.into_iter().find(quiet).unwrap_or(zones[0])
}

struct Shared {
    config: StrictConfig,
    origin: String,
    key: RsaPrivateKey,
    certificate: String,
    time_zone: &'static str,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct State {
    tokens: HashSet<String>,
    /// Arrival times of the calls the quota admitted.
    arrivals: VecDeque<Instant>,
    used_captchas: HashSet<String>,
    carts: HashMap<String, Cart>,
    /// Deferred operations by id, and every polling id issued → its operation.
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

/// An operation answered through polling.
struct Op {
    cart_id: String,
    /// Names the polling url, like the docs' `polling/cart/tickets/PUT/…`.
    path: &'static str,
    newest: String,
    not_before: Instant,
    rounds_left: u32,
    /// The newest polling answer.
    last: Value,
    /// The original answer; `None` = 204.
    result: Option<Value>,
    delivered: bool,
}

/// What is read from a request before the state is locked.
struct Incoming {
    /// When the call arrived: the quota counts arrivals.
    arrived: Instant,
    body: Result<Value, serde_json::Error>,
    /// Decrypted `card.number` and `card.cin` of a payment, when they decrypt.
    card: (Option<String>, Option<String>),
}

/// The payment fields the docs mark Required, as non-empty text.
const PAYMENT_TEXT: [&str; 11] = [
    "/payment/first_name",
    "/payment/last_name",
    "/payment/home_phone",
    "/payment/email_address",
    "/payment/amount",
    "/payment/address/line1",
    "/payment/address/city",
    "/payment/address/region/abbrev",
    "/payment/address/postal_code",
    "/payment/card/encryption_key",
    "/payment/card/postal_code",
];

/// `country.id`: the docs' appendix (840 US, 124 Canada, 36 Australia, 484 Mexico, 554 NZ).
const COUNTRIES: [u64; 5] = [840, 124, 36, 484, 554];

/// A refusal: status, body, and `Rate-Limit-Reset` for a 429.
struct Refused(u16, Value, Option<i64>);
type Answer = Result<HttpResponse, Refused>;

const BAD_KEY: [&str; 2] = ["Invalid ApiKey", "oauth.v2.InvalidApiKey"];
const BAD_TOKEN: [&str; 2] = ["Invalid access token", "oauth.v2.InvalidAccessToken"];
const BAD_CLIENT: [&str; 2] = ["Invalid client credentials", "oauth.v2.InvalidClient"];
const QUOTA: [&str; 2] = [
    "Rate limit quota violation",
    "policies.ratelimit.QuotaViolation",
];

fn fault(status: u16, [faultstring, errorcode]: [&str; 2]) -> Refused {
    let body = json!({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}});
    Refused(status, body, None)
}

fn error(status: u16, code: i64, message: &str) -> Refused {
    let error = json!({"message": message, "code": code, "http_code": status, "severity": "ERROR"});
    Refused(status, json!({ "error": error }), None)
}

fn invalid(what: &str) -> Refused {
    error(400, 10002, &format!("Invalid input data type: {what}"))
}

fn no_cart() -> Refused {
    error(404, 10002, "Cart not found")
}

fn reply(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK)).json(body)
}

/// A non-empty string at `pointer`.
fn text<'v>(body: &'v Value, pointer: &str) -> Result<&'v str, Refused> {
    let found = body.pointer(pointer).and_then(Value::as_str);
    found
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid(pointer))
}

fn ensure(ok: bool, pointer: &str) -> Result<(), Refused> {
    if ok { Ok(()) } else { Err(invalid(pointer)) }
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

async fn dispatch(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let arrived = Instant::now();
    let path = req.path().strip_prefix("/partners/v1/").unwrap_or("");
    let query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let body = serde_json::from_slice::<Value>(&body);
    // RSA decryption is slow in debug builds: it runs off the worker and outside the lock,
    // so it delays neither other calls' arrival times nor the state.
    let card = match (req.method().as_str(), path, &body) {
        ("PUT", "cart/payment", Ok(json)) => {
            let (sh, json) = (shared.clone().into_inner(), json.clone());
            let field = move |name| reveal(&sh, json.pointer(name)?.as_str()?);
            let both = move || (field("/payment/card/number"), field("/payment/card/cin"));
            web::block(both).await.unwrap_or_default()
        }
        _ => (None, None),
    };
    let mut st = shared.lock();
    let incoming = Incoming {
        arrived,
        body,
        card,
    };
    match st.handle(&shared, &req, path, &query, incoming) {
        Ok(resp) => resp,
        Err(Refused(status, body, reset)) => {
            if status != 429 {
                let refusal = format!("{} {path} -> {status} {body}", req.method());
                st.stats.refusals.push(refusal);
            }
            let mut resp = reply(status, &body);
            if let Some(reset) = reset.and_then(|ms| ms.to_string().parse().ok()) {
                resp.headers_mut()
                    .insert(HeaderName::from_static("rate-limit-reset"), reset);
            }
            resp
        }
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
            return Err(fault(401, BAD_KEY));
        }
        self.admit(incoming.arrived, sh.config.requests_per_second)?;
        let method = req.method().as_str();
        if (method, path) == ("POST", "oauth/accesstoken") {
            return self.issue_token(sh, req);
        }
        let bearer = header(req, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        if !bearer.is_some_and(|token| self.tokens.contains(token)) {
            self.stats.missing_bearer += 1;
            return Err(fault(401, BAD_TOKEN));
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
                self.carts.get(cart_query()?).ok_or_else(no_cart)?;
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
    /// second before this one counts, and any after it.
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
        Err(Refused(
            429,
            fault(429, QUOTA).1,
            Some(reset.timestamp_millis()),
        ))
    }

    fn issue_token(&mut self, sh: &Shared, req: &HttpRequest) -> Answer {
        let StrictConfig {
            apikey,
            client_secret,
            ..
        } = &sh.config;
        let expected = STANDARD.encode(format!("{apikey}:{client_secret}"));
        let basic = header(req, "authorization").and_then(|v| v.strip_prefix("Basic "));
        if basic != Some(expected.as_str()) {
            return Err(fault(401, BAD_CLIENT));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.tokens.insert(token.clone());
        self.stats.oauth_tokens_issued += 1;
        let issued_at = Utc::now().timestamp_millis().to_string();
        Ok(reply(
            200,
            &json!({
                "issued_at": issued_at, "scope": "", "status": "approved", "expires_in": "3599",
                "token_type": "BearerToken", "client_id": apikey, "access_token": token,
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
        // 0xfbefff encodes as "++//" and 19 bytes end in "==": every character that needs
        // url-encoding is in every cart id.
        let mut raw = vec![0xfb, 0xef, 0xff];
        raw.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        let cart_id = STANDARD.encode(raw);
        self.carts.insert(cart_id.clone(), Cart::default());
        Ok(reply(200, &json!({ "cart_id": cart_id })))
    }

    /// The cart for an update: it must exist, be unpurchased and not busy (FAQ: the API does
    /// not support concurrent calls to update the cart).
    fn cart_to_update(&mut self, body: &Value) -> Result<(String, &mut Cart), Refused> {
        let cart_id = text(body, "/cart_id")?.to_owned();
        let cart = self.carts.get_mut(&cart_id).ok_or_else(no_cart)?;
        if cart.pending.is_some() {
            self.stats.concurrent_updates += 1;
            return Err(error(409, 10002, "Cart update in progress"));
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
        for t in tickets.into_iter().flatten() {
            if text(t, "/id")? != TICKET_ID {
                return Err(error(400, 20052, "No inventory found to match request"));
            }
            // The one price level is id 0; leaving `price` out means best available.
            let price = t.get("price").map(|p| p.get("id").and_then(Value::as_u64));
            match (int(t, "/quantity")?, price) {
                (0, _) | (_, Some(None | Some(1..))) => return Err(invalid("/event/tickets")),
                (q, _) => quantity += q,
            }
        }
        if !(1..=10).contains(&quantity) {
            return Err(invalid("/event/tickets"));
        }
        let (cart_id, cart) = self.cart_to_update(body)?;
        (cart.quantity, cart.paid) = (quantity, false);
        let result = json!({"cart_id": cart_id, "cart": cart_json(quantity, true)});
        Ok(self.defer(sh, &cart_id, "cart/tickets/PUT", Some(result)))
    }

    /// `PUT /cart/payment` (Polling: No), checking what the docs mark Required.
    fn payment(&mut self, body: &Value, card: &(Option<String>, Option<String>)) -> Answer {
        for pointer in PAYMENT_TEXT {
            text(body, pointer)?;
        }
        let line2 = body.pointer("/payment/address/line2");
        let month = int(body, "/payment/card/expire_month")?;
        let country = int(body, "/payment/address/country/id")?;
        int(body, "/payment/card/expire_year")?;
        let key = text(body, "/payment/card/encryption_key")?;
        ensure(text(body, "/payment/type")? == "CC", "/payment/type")?;
        ensure(
            line2.is_some_and(Value::is_string),
            "/payment/address/line2",
        )?;
        ensure(COUNTRIES.contains(&country), "/payment/address/country/id")?;
        ensure((1..=12).contains(&month), "/payment/card/expire_month")?;
        ensure(key == CERT_ID, "/payment/card/encryption_key")?;
        ensure(card.0.is_some(), "/payment/card/number")?;
        ensure(card.1.is_some(), "/payment/card/cin")?;
        let amount = text(body, "/payment/amount")?.to_owned();
        let (_, cart) = self.cart_to_update(body)?;
        if cart.quantity == 0 {
            return Err(error(400, 10002, "No tickets reserved in this cart"));
        }
        let total = format!("{}.00", cart.quantity * FACE_VALUE);
        if amount != total || card.0.as_deref() != Some(TEST_CARD) {
            return Err(error(400, 20122, "Payment Not Accepted"));
        }
        if card.1.as_deref() != Some(TEST_CVV) {
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
            "grand_total": grand, "order_token": token,
        });
        Ok(self.defer(sh, &cart_id, "cart/PUT", Some(result)))
    }

    /// Deleting is allowed at any time ("no longer want to wait through a long, continuing
    /// polling process"); it drops the cart's undelivered operation.
    fn delete(&mut self, sh: &Shared, cart_id: &str) -> Answer {
        let cart = self.carts.remove(cart_id).ok_or_else(no_cart)?;
        if let Some(op) = cart.pending {
            self.ops.remove(&op);
        }
        self.stats.carts_deleted += 1;
        Ok(self.defer(sh, cart_id, "cart/DELETE", None))
    }

    /// Registers an operation answered through polling; returns its first 202.
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
        let (not_before, rounds_left) = (Instant::now() + wait(sh), sh.config.polling_rounds - 1);
        let cart_id = cart_id.to_owned();
        let response = reply(202, &last);
        let op = Op {
            cart_id,
            path,
            newest,
            not_before,
            rounds_left,
            last,
            result,
            delivered: false,
        };
        self.ops.insert(op_id, op);
        response
    }

    /// A new polling id for `op_id`, and the polling answer that carries it.
    fn issue(&mut self, sh: &Shared, op_id: u64, cart_id: &str, path: &str) -> (String, Value) {
        self.seq += 1;
        let poll_id = format!("{op_id:016X}{:016X}", self.seq);
        self.issued.insert(poll_id.clone(), op_id);
        let (origin, key, cart) = (&sh.origin, encode(&sh.config.apikey), encode(cart_id));
        let url =
            format!("{origin}/partners/v1/polling/{path}/{poll_id}?apikey={key}&cart_id={cart}");
        (
            poll_id,
            json!({"polling_url": url, "wait": sh.config.poll_wait_secs}),
        )
    }

    fn poll(&mut self, sh: &Shared, path: &str, cart_id: &str) -> Answer {
        let poll_id = path.rsplit('/').next().unwrap_or_default();
        let unknown = || error(404, 10002, "Unknown polling url");
        let op_id = *self.issued.get(poll_id).ok_or_else(unknown)?;
        // No operation: the cart was deleted meanwhile.
        let mut op = self.ops.remove(&op_id).ok_or_else(unknown)?;
        let answer = self.advance(sh, op_id, &mut op, (path, poll_id), cart_id);
        self.ops.insert(op_id, op);
        answer
    }

    fn advance(
        &mut self,
        sh: &Shared,
        op_id: u64,
        op: &mut Op,
        (path, poll_id): (&str, &str),
        cart_id: &str,
    ) -> Answer {
        // The poll names its operation and cart (url-decoded) as the url handed out.
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
        // The docs' Poll section answers 202 with the original response.
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
    let digits_only = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (salted && digits_only).then(|| digits.to_owned())
}

/// The docs' reserve answer for `quantity` seats of the one ticket type.
fn cart_json(quantity: u64, unpaid: bool) -> Value {
    let total = quantity * FACE_VALUE;
    let charge =
        |kind: &str, price| json!({"price": price, "quantity": quantity, "tax": 0, "type": kind});
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

/// The docs' Event model: on sale for a month, in a time zone out of its maintenance window.
fn event(sh: &Shared, event_id: &str) -> Answer {
    if event_id != EVENT_ID {
        return Err(error(404, 10002, "Event not found"));
    }
    let at = |days| (Utc::now() + TimeDelta::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let date = |days| json!({"format": "datetime", "value": at(days)});
    let price = json!({"amount": FACE_VALUE, "display_amount": FACE_VALUE, "id": 0,
        "price_details": [{"amount": {"amount": FACE_VALUE, "currency": "USD"}, "type": "face_value"}]});
    let bound = json!({"display_amount": FACE_VALUE, "face_value": FACE_VALUE, "fees": 0});
    let address =
        json!({"city": "Seattle", "country": {"abbrev": "US"}, "region": {"abbrev": "WA"}});
    let event = json!({
        "tickets": [{"description": "GPAS1", "id": TICKET_ID, "prices": [price],
                     "quantities": {"exact": 0, "limit": 10, "minimum": 1, "multiple": 1}}],
        "artists": [{"id": 916285, "name": "Seattle Sounders FC", "rank": 1, "single_performer_or_band": false}],
        "currency_code": "USD",
        "event_image": {"height": 115, "location": "http://share.livenation.com/images/default_image.jpg", "width": 205},
        "eventdate": date(30), "facility_fee_rollup": true, "id": EVENT_ID,
        "name": "Seattle Sounders FC vs. San Jose Earthquakes",
        "notes": [{"text": "There is a 10 ticket limit per household.", "type": "ticketlimittext"}],
        "offsale": date(29), "onsale": date(-30),
        "presales": [{"format": "daterange", "label": "Internet Presale", "value": format!("{}/{}", at(-40), at(-31))}],
        "price_range": {"description": "Prices subject to change", "max": bound, "min": bound},
        "promoter": {"id": 494, "name": "PROMOTED BY VENUE"}, "publication": date(-60),
        "purchase_organization": "TM", "quantities": {"limit": 10}, "service_fee_rollup": false,
        "statuses": [{"type": "onsale", "value": at(-30)}], "type": {"id": 0},
        "url": format!("http://ticketmaster.com/event/{EVENT_ID}"),
        "venue": {"id": 516191, "location": {"address": address, "time_zone": sh.time_zone},
                  "markets": [{"id": 42, "name": "Greater Seattle Area"}], "name": "CenturyLink Field"}
    });
    Ok(reply(
        200,
        &json!({"api_transactable": true, "event": event}),
    ))
}

const CAPTCHA_PAGE: &str = r#"<html><head><script src="https://www.google.com/recaptcha/api.js"></script>
<script>function callback(responseText) {
    location.href = "ticketmaster-g-recaptcha-response://" + responseText; }</script></head>
<body><div class="g-recaptcha" data-sitekey="c0d60e1f4a711b710dc3dbe74fbd449c" data-callback="callback"></div></body></html>
"#;
