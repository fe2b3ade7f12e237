//! Test harness: a sandbox on port 0, a small request builder that adds the apikey and
//! `True-Client-IP`, JSON helpers (shape, numeric normalisation) and card encryption with the
//! certificate served by `/certificate`.

use std::collections::BTreeMap;
use std::net::TcpListener;

use base64::Engine;
use checkout_gateway::clock::OffsetClock;
use checkout_gateway::sandbox::{self, SandboxConfig, SandboxHandle, SandboxStats};
use rsa::pkcs8::DecodePublicKey;
use rsa::rand_core::OsRng;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use serde_json::{Value, json};

pub const SEATTLE: &str = "3F004CBB88958BF9";
pub const SEATTLE_TICKET: &str = "000002040006";
pub const TEST_EVENT: &str = "000051048D991EE7";
pub const TINY: &str = "09004E6CE6325123";
pub const NOT_TRANSACTABLE: &str = "0B004ED9FC825ACB";
pub const TEST_CARD: &str = "4588883206000011";

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/upstream/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Numbers compared as f64, so `25` and `25.0` are the same value.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        other => other.clone(),
    }
}

fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let merged = match x.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                x.insert(k, merged);
            }
            Value::Object(x)
        }
        (a, _) => a,
    }
}

/// The recursive key structure: objects keep their keys, arrays the merged shape of their
/// elements, scalars become their type name.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).reduce(merge).into_iter().collect()),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

pub fn assert_shape(fixture_name: &str, actual: &Value) {
    assert_eq!(
        shape(actual),
        shape(&fixture(fixture_name)),
        "sandbox answer does not have the shape of {fixture_name}: {actual:#}"
    );
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request; `path` is relative to the base url unless absolute.
pub struct Req {
    method: reqwest::Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    raw_body: Option<(String, &'static str)>,
    headers: Vec<(String, String)>,
    client_ip: bool,
    apikey: bool,
}

impl Req {
    fn new(method: reqwest::Method, path: &str) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            raw_body: None,
            headers: Vec::new(),
            client_ip: true,
            apikey: true,
        }
    }
    pub fn get(path: &str) -> Self {
        Self::new(reqwest::Method::GET, path)
    }
    pub fn post(path: &str) -> Self {
        Self::new(reqwest::Method::POST, path)
    }
    pub fn put(path: &str) -> Self {
        Self::new(reqwest::Method::PUT, path)
    }
    pub fn delete(path: &str) -> Self {
        Self::new(reqwest::Method::DELETE, path)
    }
    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn raw(mut self, body: &str, content_type: &'static str) -> Self {
        self.raw_body = Some((body.into(), content_type));
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn force_polling(self) -> Self {
        self.header("X-TM-FORCE-POLLING", "true")
    }
    pub fn without_client_ip(mut self) -> Self {
        self.client_ip = false;
        self
    }
    pub fn without_apikey(mut self) -> Self {
        self.apikey = false;
        self
    }
}

pub struct Sbx {
    pub handle: SandboxHandle,
    pub client: reqwest::Client,
    pub base: String,
    pub apikey: String,
    pub bearer: std::sync::Mutex<Option<String>>,
}

pub async fn start(config: SandboxConfig) -> Sbx {
    let apikey = config.apikey.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let handle = sandbox::spawn(config, listener).await.unwrap();
    Sbx {
        base: handle.base_url(),
        handle,
        client: reqwest::Client::new(),
        apikey,
        bearer: std::sync::Mutex::new(None),
    }
}

/// A config for fast tests: short polling wait, and the nightly maintenance window half a day
/// away in every venue's zone (the clock follows real time; the window's test sets its own).
pub fn fast() -> SandboxConfig {
    SandboxConfig {
        poll_wait_secs: 0.05,
        maintenance: sandbox::maintenance_hours_away_from(chrono::Utc::now()),
        ..SandboxConfig::default()
    }
}

pub fn clock_of(config: &SandboxConfig) -> OffsetClock {
    config.settable_clock.clone().unwrap()
}

impl Sbx {
    pub fn admin_url(&self, path: &str) -> String {
        let root = self.base.trim_end_matches("/partners/v1");
        format!("{root}/_sandbox{path}")
    }

    pub async fn send(&self, req: Req) -> Resp {
        let url = self.url_of(&req);
        self.send_url(req, &url).await
    }

    /// The base url, path, apikey and encoded query of `req`.
    fn url_of(&self, req: &Req) -> String {
        let mut url = if req.path.starts_with("http") {
            req.path.clone()
        } else {
            format!("{}{}", self.base, req.path)
        };
        let mut params: Vec<String> = Vec::new();
        if req.apikey {
            params.push(format!("apikey={}", enc(&self.apikey)));
        }
        params.extend(req.query.iter().map(|(k, v)| format!("{k}={}", enc(v))));
        if !params.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&params.join("&"));
        }
        url
    }

    /// Sends to `url` exactly as given (no apikey or encoding added).
    pub async fn send_url(&self, req: Req, url: &str) -> Resp {
        self.try_send_url(req, url).await.unwrap()
    }

    /// [`Self::send`] that hands back a transport error (e.g. a dropped connection).
    pub async fn try_send(&self, req: Req) -> Result<Resp, reqwest::Error> {
        let url = self.url_of(&req);
        self.try_send_url(req, &url).await
    }

    async fn try_send_url(&self, req: Req, url: &str) -> Result<Resp, reqwest::Error> {
        let mut b = self.client.request(req.method, url);
        if req.client_ip {
            b = b.header("True-Client-IP", "203.0.113.7");
        }
        let own_authorization = req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("Authorization"));
        let bearer = self.bearer.lock().unwrap().clone();
        if let Some(token) = bearer.filter(|_| !own_authorization) {
            b = b.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(body) = &req.body {
            b = b.json(body);
        }
        if let Some((body, content_type)) = req.raw_body {
            b = b.header("Content-Type", content_type).body(body);
        }
        let r = b.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            body,
        })
    }

    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(self.admin_url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub fn stats(&self) -> SandboxStats {
        self.handle.stats()
    }

    pub async fn advance(&self, secs: f64) {
        self.admin("/clock", json!({ "advance_secs": secs })).await;
    }

    /// A new cart through a fresh captcha token.
    pub async fn cart(&self) -> String {
        let token = format!("tok-{}", uuid::Uuid::new_v4());
        let r = self
            .send(Req::post("/cart").json(json!({ "token": token })))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["cart_id"].as_str().unwrap().to_owned()
    }

    pub fn reserve_req(cart_id: &str, event: &str, ticket: &str, quantity: u32) -> Req {
        Req::put("/cart/tickets").json(json!({
            "cart_id": cart_id,
            "event": { "id": event, "tickets": [{ "id": ticket, "quantity": quantity }] }
        }))
    }

    pub async fn reserve(&self, cart_id: &str, event: &str, ticket: &str, quantity: u32) -> Resp {
        self.send(Self::reserve_req(cart_id, event, ticket, quantity))
            .await
    }

    /// `(id, public key)` of the current certificate.
    pub async fn certificate(&self, cart_id: &str) -> (String, RsaPublicKey) {
        let r = self
            .send(Req::get("/certificate").query("cart_id", cart_id))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let pem = r.body["value"].as_str().unwrap();
        assert!(pem.contains("\r\n"));
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        let key = RsaPublicKey::from_public_key_der(cert.public_key().raw).unwrap();
        (r.body["id"].as_str().unwrap().to_owned(), key)
    }

    /// The docs' payment body (from the fixture) with this cart, amount and card.
    pub async fn pay(&self, cart_id: &str, card: Card<'_>) -> Resp {
        let (key_id, key) = self.certificate(cart_id).await;
        let mut body = fixture("payment_request.json");
        body["cart_id"] = json!(cart_id);
        body["payment"]["amount"] = json!(card.amount);
        body["payment"]["card"]["number"] = json!(encrypt(&key, card.number));
        body["payment"]["card"]["cin"] = json!(encrypt(&key, card.cvv));
        body["payment"]["card"]["encryption_key"] = json!(card.key_id.unwrap_or(&key_id));
        self.send(Req::put("/cart/payment").json(body)).await
    }

    pub fn purchase_req(cart_id: &str) -> Req {
        Req::put("/cart").json(json!({
            "cart_id": cart_id,
            "source_account_id": "30f86cd70ac7216bc596aa2d060a7064"
        }))
    }

    pub async fn purchase(&self, cart_id: &str) -> Resp {
        self.send(Self::purchase_req(cart_id)).await
    }

    /// Reserve `quantity` Seattle tickets (25.00 each) and pay for them.
    pub async fn paid_cart(&self, quantity: u32) -> String {
        let cart = self.cart().await;
        let r = self.reserve(&cart, SEATTLE, SEATTLE_TICKET, quantity).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let amount = format!("{}.00", 25 * quantity);
        let r = self.pay(&cart, Card::test(&amount)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        cart
    }
}

pub struct Card<'a> {
    pub number: &'a str,
    pub cvv: &'a str,
    pub amount: &'a str,
    pub key_id: Option<&'a str>,
}

impl<'a> Card<'a> {
    pub fn test(amount: &'a str) -> Self {
        Self {
            number: TEST_CARD,
            cvv: "123",
            amount,
            key_id: None,
        }
    }
}

/// The docs' recipe: 16 printable salt characters, then the digits, RSA PKCS#1 v1.5, base64.
pub fn encrypt(key: &RsaPublicKey, digits: &str) -> String {
    let salt = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let plain = format!("{salt}{digits}");
    let cipher = key
        .encrypt(&mut OsRng, Pkcs1v15Encrypt, plain.as_bytes())
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(cipher)
}

pub fn purchase_calls(stats: &SandboxStats) -> BTreeMap<String, u32> {
    stats.purchase_calls_by_cart.clone()
}
