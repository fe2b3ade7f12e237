//! The example partner app at `/example/`: the first thing a partner developer runs after
//! `cargo run -- serve`. A small static web app (plain HTML, CSS and JavaScript, no build step,
//! embedded in the binary) that walks a user through the public API as a partner's app would:
//! event → captcha → reserve → the hosted payment page → purchase → the order's redemption
//! link. It calls the same `/v1/…` routes any partner calls, with a user token from its own
//! development-only token route.
//!
//! Served only when `example_app.enabled` (true in `config/local.toml`, refused in production)
//! and compiled only with the `dev-tools` feature: the production image has none of it.
//!
//! # Layout
//! - this file: the routes, the embedded files and the headers they are served with.
//! - [`token`]: `POST /example/token`, development user tokens for `example-…` users.
//! - `assets/`: `index.html` (also served at `/example/return`, where the hosted page sends
//!   the user back), `app.js`, `app.css`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::auth::AuthSettings;
use crate::sandbox::catalog::Catalog;

mod token;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// The app's pages load only their own files and call only this origin. Frames: the captcha
/// page is shown in a sandboxed `srcdoc` iframe, which inherits this policy, so the captcha
/// provider's script it names is not loaded either. The app itself is never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; frame-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What the example app's routes are given.
pub struct ExampleApp {
    /// Signs the tokens `POST /example/token` hands out (the configured `auth.*`).
    auth: AuthSettings,
    /// The events the app offers to pick from.
    events: Vec<EventChoice>,
}

/// One event the app's picker offers.
#[derive(Debug, Clone, Serialize)]
pub struct EventChoice {
    pub event_id: String,
    pub name: String,
    /// Whether the event can be sold through the API (the app lists one that cannot, to show
    /// the error a partner's app meets).
    pub transactable: bool,
    /// Seats in all: the smallest event sells out after two.
    pub seats: usize,
}

impl EventChoice {
    /// Every event of the built-in sandbox's catalog (`sandbox::catalog`).
    pub fn sandbox_catalog() -> Vec<Self> {
        Catalog::new(chrono::Utc::now())
            .events()
            .map(|event| Self {
                event_id: event.id.to_owned(),
                name: event.name.to_owned(),
                transactable: event.transactable,
                seats: event.layout.capacity(),
            })
            .collect()
    }
}

impl ExampleApp {
    /// `events`: what the picker lists (the sandbox's catalog, or nothing when upstream is
    /// another server: the app then asks for an event id).
    pub fn new(auth: AuthSettings, events: Vec<EventChoice>) -> Self {
        Self { auth, events }
    }
}

/// Registers `/example`, `/example/`, `/example/return`, the app's files, `/example/events` and
/// `POST /example/token`.
pub fn routes(app: &web::Data<ExampleApp>, cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/example")
            .app_data(app.clone())
            .route("", web::get().to(to_slash))
            .route("/", web::get().to(page))
            .route("/return", web::get().to(page))
            .route("/app.js", web::get().to(script))
            .route("/app.css", web::get().to(style))
            .route("/events", web::get().to(events))
            .route("/token", web::post().to(token::mint)),
    );
}

/// `/example` → `/example/`, so the page's relative view of itself is the app's root.
async fn to_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/example/"))
        .finish()
}

async fn page() -> HttpResponse {
    embedded("text/html; charset=utf-8", INDEX)
}

async fn script() -> HttpResponse {
    embedded("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> HttpResponse {
    embedded("text/css; charset=utf-8", STYLE)
}

async fn events(app: web::Data<ExampleApp>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(&app.events)
}

/// One of the app's files, with the headers every page of it carries.
fn embedded(content_type: &'static str, body: &'static str) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type)
        // Always fresh from this binary: the files change with it, and there is nothing to
        // gain from caching a local tool.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // The return page's URL names a checkout: not sent on to the links the app shows.
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    resp.body(body)
}
