//! A real webhook receiver for the job tests: an HTTP server on port 0 that checks every
//! message's Standard Webhooks signature itself (HMAC-SHA256 over `{id}.{timestamp}.{body}`
//! with the bytes behind `whsec_…`), records it, and answers as the test tells it to.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// 32 fixed bytes, base64: the secret both the app and the receiver are given.
pub const SECRET: &str = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0zMi1ieXRlcy1sb25nIQ==";

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Fail,
    /// Answer 200 only after this long (past the sender's timeout: a failed attempt).
    Stall(Duration),
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    /// The `webhook-timestamp` and `webhook-signature` headers as sent.
    pub timestamp: String,
    pub signature: String,
    pub body: Value,
    pub raw: String,
    pub signature_valid: bool,
    /// What the receiver answered; 0 for a stall (answered only after the sender gave up).
    pub answered: u16,
}

struct Shared {
    key: Vec<u8>,
    mode: Mutex<Mode>,
    seen: Mutex<Vec<Received>>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let key = STANDARD
            .decode(SECRET.trim_start_matches("whsec_"))
            .expect("secret");
        let shared = Arc::new(Shared {
            key,
            mode: Mutex::new(Mode::Accept),
            seen: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hooks/unredeemed", listener.local_addr().unwrap());
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hooks/unredeemed", web::post().to(receive))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            shared,
            server: handle,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub fn seen(&self) -> Vec<Received> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Messages with this id the receiver accepted (answered 200 to).
    pub fn accepted(&self, id: &str) -> usize {
        self.seen()
            .iter()
            .filter(|r| r.id == id && r.answered == 200 && r.signature_valid)
            .count()
    }

    /// Wait (at most 20 s) until `done` holds for what was received.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&self.seen()) {
            assert!(
                Instant::now() < deadline,
                "receiver: timed out waiting for {what}; saw {:?}",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn header(req: &HttpRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The receiver's own check, written from the specification (not the app's code).
fn verify(key: &[u8], id: &str, timestamp: &str, body: &str, signatures: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 7 * 86_400);
    fresh && signatures.split(' ').any(|s| s == expected)
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let raw = String::from_utf8_lossy(&body).into_owned();
    let id = header(&req, "webhook-id");
    let timestamp = header(&req, "webhook-timestamp");
    let signature = header(&req, "webhook-signature");
    let signature_valid = verify(&shared.key, &id, &timestamp, &raw, &signature);
    let mode = *shared.mode.lock().unwrap();
    let status = match mode {
        _ if !signature_valid => 401,
        Mode::Accept | Mode::Stall(_) => 200,
        Mode::Fail => 500,
    };
    // A stalled answer comes after the sender gave up: recorded as no answer (0).
    let answered = if matches!(mode, Mode::Stall(_)) {
        0
    } else {
        status
    };
    shared.seen.lock().unwrap().push(Received {
        id,
        timestamp,
        signature,
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
        signature_valid,
        answered,
    });
    if let Mode::Stall(delay) = mode {
        // Simulates a receiver too slow to answer: the sender's timeout is what is tested.
        tokio::time::sleep(delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}
