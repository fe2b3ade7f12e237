//! `spawn_app()` and request helpers shared by the API tests.

use std::sync::Arc;

use chrono::TimeDelta;
use reqwest::{Method, RequestBuilder, Response};
use secrecy::SecretString;
use serde_json::{Value, json};

use checkout_gateway::checkout::service::CheckoutService;
use checkout_gateway::clock::OffsetClock;
use checkout_gateway::config::{LoadOptions, Settings};
use checkout_gateway::context::AppContext;
use checkout_gateway::http::auth::issue_token;
use checkout_gateway::sandbox::SandboxHandle;
use checkout_gateway::startup::{Application, BuildOptions, Running};
use checkout_gateway::tools::testdb::fresh_postgres_url;

pub const EVENT: &str = "3F004CBB88958BF9";
pub const TICKET: &str = "000002040006";
pub const TINY_EVENT: &str = "09004E6CE6325123";
pub const NOT_TRANSACTABLE_EVENT: &str = "0B004ED9FC825ACB";
pub const TEST_CARD: &str = "4588883206000011";
pub const JWT_SECRET: &str = "dev-only-jwt-secret-not-for-production";

pub struct TestApp {
    pub address: String,
    /// The admin listener: `/metrics`, `/admin/*`.
    #[allow(dead_code)]
    pub admin_address: String,
    pub client: reqwest::Client,
    pub clock: OffsetClock,
    pub database_url: String,
    /// The servers and worker; dropped with the test, which stops them.
    running: Running,
    #[allow(dead_code)]
    pub service: Arc<CheckoutService>,
    /// The shared parts (store, upstream client, metrics), for looking behind the API.
    #[allow(dead_code)]
    pub context: AppContext,
}

/// The venues' maintenance window, far from now: tests' clocks follow real time.
pub fn quiet_maintenance_hours() -> (u32, u32) {
    checkout_gateway::sandbox::maintenance_hours_away_from(chrono::Utc::now())
}

/// An app on port 0 with a fresh Postgres database; `overrides` are config keys.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_on(fresh_postgres_url().await, overrides).await
}

/// An app on port 0 on `database_url` (a fresh database, or another app's to be its second
/// replica); `overrides` are config keys.
pub async fn spawn_on(database_url: String, overrides: &[(&str, &str)]) -> TestApp {
    let (quiet_start, quiet_end) = quiet_maintenance_hours();
    let (quiet_start, quiet_end) = (quiet_start.to_string(), quiet_end.to_string());
    let mut all = vec![
        ("database.url", database_url.as_str()),
        // The clock runs from real time: a test run at 2 AM in the venues' zones must not
        // find upstream (and the gateway) in their nightly window. Tests of the window set
        // their own hours.
        ("maintenance.start_hour", quiet_start.as_str()),
        ("maintenance.end_hour", quiet_end.as_str()),
        ("http.listen", "127.0.0.1:0"),
        ("admin.listen", "127.0.0.1:0"),
        ("sandbox.poll_wait_secs", "0.05"),
        ("upstream.requests_per_second", "200"),
        // Tests run in parallel against one Postgres: small pools keep them under its limit.
        ("database.max_connections", "3"),
        // Tests fire many calls per user at once; admission has tests of its own.
        ("admission.user_burst", "10000"),
        ("admission.ip_burst", "10000"),
        // The unredeemed-orders schedule only where a test asks for it (tests/api/jobs.rs):
        // a test clock moved past 09:00 must not start a job in someone else's test.
        ("unredeemed.enabled", "false"),
    ];
    all.extend_from_slice(overrides);
    let settings = Settings::load(&LoadOptions::local_with(&all)).expect("test settings");
    let clock = OffsetClock::default();
    let app = Application::build(
        settings,
        BuildOptions {
            skip_migrations: false,
            clock: Some(clock.clone()),
        },
    )
    .await
    .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = format!("http://127.0.0.1:{}", app.admin_port());
    let running = app.spawn();
    TestApp {
        address,
        admin_address,
        client: reqwest::Client::new(),
        clock,
        database_url,
        service: running.service.clone(),
        context: running.context.clone(),
        running,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub fn token_for(user: &str) -> String {
    issue_token(&SecretString::from(JWT_SECRET), user, 600).expect("token")
}

pub fn fresh_captcha() -> String {
    format!("ok-{}", uuid::Uuid::new_v4().simple())
}

pub fn payment_body(card: &str, cvv: &str) -> Value {
    json!({
        "card": {"number": card, "cvv": cvv, "expire_month": 12, "expire_year": 2020},
        "billing": {
            "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com",
            "phone": "212-867-5309",
            "address": {"line1": "123 Main Street", "line2": "", "city": "Los Angeles",
                        "region": "CA", "postal_code": "90210", "country": "US"}
        }
    })
}

impl TestApp {
    /// The app's unredeemed-orders job and delivery worker.
    #[allow(dead_code)]
    pub fn running_jobs(&self) -> &checkout_gateway::jobs::Jobs {
        &self.running.jobs
    }

    /// A second replica of this app: the same database and the same (in-process) sandbox,
    /// `overrides` on top.
    #[allow(dead_code)]
    pub async fn replica(&self, overrides: &[(&str, &str)]) -> TestApp {
        let upstream = self.sandbox().base_url();
        let mut all = vec![("upstream.base_url", upstream.as_str())];
        all.extend_from_slice(overrides);
        spawn_on(self.database_url.clone(), &all).await
    }

    pub fn sandbox(&self) -> &SandboxHandle {
        self.running
            .sandbox
            .as_ref()
            .expect("the app runs the in-process sandbox")
    }

    pub fn request(&self, method: Method, path: &str, user: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token_for(user))
            .header("Prefer", "wait=20")
    }

    /// POST `path` as `user` with `Prefer: wait={wait}` (not the default 20) and `body`.
    #[allow(dead_code)]
    pub async fn post_waiting(
        &self,
        path: &str,
        user: &str,
        wait: u32,
        body: Option<Value>,
    ) -> Response {
        let request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token_for(user))
            .header("Prefer", format!("wait={wait}"));
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.expect("request")
    }

    /// A two-ticket checkout of the test event created as `user` with `Prefer: wait={wait}`.
    #[allow(dead_code)]
    pub async fn create_waiting(&self, user: &str, wait: u32) -> Response {
        let body = serde_json::json!({
            "event_id": EVENT,
            "captcha_token": fresh_captcha(),
            "tickets": [{"ticket_id": TICKET, "quantity": 2}]
        });
        self.post_waiting("/v1/checkouts", user, wait, Some(body))
            .await
    }

    /// GET `path` as `user` and read the JSON body.
    pub async fn get_json(&self, path: &str, user: &str) -> Value {
        self.request(Method::GET, path, user)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    /// Re-read the checkout until it is in `state`, for at most 15 s; returns it.
    pub async fn wait_for_state(&self, id: &str, user: &str, state: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let body = self.get_json(&format!("/v1/checkouts/{id}"), user).await;
            if body["state"] == state || std::time::Instant::now() >= deadline {
                assert_eq!(body["state"], state, "{body}");
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn create_checkout(
        &self,
        user: &str,
        event: &str,
        ticket: &str,
        quantity: u32,
    ) -> Response {
        self.request(Method::POST, "/v1/checkouts", user)
            .json(&json!({
                "event_id": event,
                "captcha_token": fresh_captcha(),
                "tickets": [{"ticket_id": ticket, "quantity": quantity}]
            }))
            .send()
            .await
            .expect("request")
    }

    /// A checkout in `reserved` for `user`; returns its id.
    pub async fn reserved(&self, user: &str) -> String {
        let resp = self.create_checkout(user, EVENT, TICKET, 2).await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["state"], "reserved");
        body["id"].as_str().unwrap().to_owned()
    }

    /// `DELETE /v1/checkouts/{id}` with `Prefer: wait={wait}`.
    pub async fn release(&self, user: &str, id: &str, wait: u32) -> Response {
        self.client
            .delete(format!("{}/v1/checkouts/{id}", self.address))
            .bearer_auth(token_for(user))
            .header("Prefer", format!("wait={wait}"))
            .send()
            .await
            .expect("request")
    }

    pub async fn pay(&self, user: &str, id: &str, card: &str, cvv: &str) -> Response {
        self.request(Method::PUT, &format!("/v1/checkouts/{id}/payment"), user)
            .json(&payment_body(card, cvv))
            .send()
            .await
            .expect("request")
    }

    /// A checkout in `payment_accepted`.
    pub async fn paid(&self, user: &str) -> String {
        let id = self.reserved(user).await;
        let resp = self.pay(user, &id, TEST_CARD, "123").await;
        assert_eq!(resp.status(), 200);
        id
    }

    pub async fn purchase(&self, user: &str, id: &str) -> Response {
        self.request(Method::POST, &format!("/v1/checkouts/{id}/purchase"), user)
            .send()
            .await
            .expect("request")
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(TimeDelta::seconds(secs));
    }

    /// Move the app's (and its sandbox's) clock so that it reads `at` now.
    pub fn set_clock(&self, at: chrono::DateTime<chrono::Utc>) {
        self.clock.set(at);
    }
}

/// Assert a problem+json body with `code` and `status`; returns the body.
pub async fn assert_problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}"
    );
    let body: Value = resp.json().await.expect("json problem");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    body
}

/// The `field`s a `validation_failed` problem names, in order.
#[allow(dead_code)]
pub fn problem_fields(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field"))
        .collect()
}

/// A sandbox fault from its text form, e.g. `purchase:drop_after_commit:1`.
pub fn fault(spec: &str) -> checkout_gateway::sandbox::Fault {
    spec.parse().expect("fault spec")
}

/// Polls the sandbox until `seats_held` is back to `held` (15 s at most); whether it is.
pub async fn seats_back_to(app: &TestApp, held: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.sandbox().stats().seats_held != held {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    true
}

/// Polls `check` every 100 ms until it holds, failing the test with `what` after 15 s: for
/// work the gateway finishes in the background after the answer a test waited for.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The tiny event's only two seats, held by user `first`; returns its ticket id, so that the
/// next reservation of it is refused as sold out.
pub async fn tiny_event_held(app: &TestApp) -> String {
    let event = app.get_json(&format!("/v1/events/{TINY_EVENT}"), "s").await;
    let ticket = event["ticket_types"][0]["ticket_id"]
        .as_str()
        .expect("a ticket")
        .to_owned();
    let first = app.create_checkout("first", TINY_EVENT, &ticket, 2).await;
    assert_eq!(first.status(), 201);
    ticket
}

/// The app's whole database as `pg_dump --data-only --inserts` writes it (one row a line).
pub fn database_dump(app: &TestApp) -> String {
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--inserts", "--dbname", &app.database_url])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    String::from_utf8_lossy(&dump.stdout).into_owned()
}
