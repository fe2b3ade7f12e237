//! The hosted payment page: `GET`/`POST /pay/{token}` and its first-party stylesheet and
//! script under `/pay/assets/`, on the public listener. HTML for browsers and WebViews, not an
//! API, so outside the OpenAPI document; the session token in the path is the only credential
//! (no JWT). The card goes from the page straight to the gateway, which pays as `PUT
//! …/payment` does; the partner's app only ever sees the checkout id and the outcome.
//!
//! The token is never logged: the access log and the request span name these routes by their
//! template (`/pay/{token}`), and the log redactor masks any token that slips through.
//!
//! # Layout
//! - [`page`]: the handlers: show the form, take a payment, say why a link is over.
//! - [`form`]: the posted form, from bytes (wiped) to a payment, errors named by field.
//! - [`csrf`]: the per-render CSRF token and its cookie.
//! - [`render`]: the templates (`templates/*.html`, compiled in), filled with escaped text
//!   (`http::html`).
//! - [`headers`]: the security headers of every `/pay` response, the CSP, `FrameAncestors`.
//! - [`assets`]: `templates/pay.css` and `templates/pay.js`.

pub mod assets;
pub mod csrf;
pub mod form;
pub mod headers;
pub mod page;
pub mod render;

use std::net::SocketAddr;

use actix_web::middleware::from_fn;
use actix_web::web;
use secrecy::SecretString;
use url::Url;

pub use headers::FrameAncestors;

use crate::checkout::payment_session::SessionToken;
use crate::digest::derived_key;

/// Where the page's routes live; a path under it carries a session token.
pub const PREFIX: &str = "/pay/";

/// `[hosted_page]`'s part for the page (the sessions' part is the checkout service's).
#[derive(Debug, Clone)]
pub struct HostedPageSettings {
    /// `hosted_page.public_base_url`; `None`: derived from the public listener's address.
    pub public_base_url: Option<Url>,
    /// `hosted_page.frame_ancestors`.
    pub frame_ancestors: FrameAncestors,
}

/// What the page's handlers (and the session route) need.
pub struct HostedPage {
    /// The origin session links are built on, as users reach the public listener.
    pub base_url: Url,
    pub frame_ancestors: FrameAncestors,
    /// Keys the form's CSRF tokens.
    pub csrf_key: SecretString,
    /// Seals session tokens in stored idempotent answers.
    pub seal_key: SecretString,
}

impl HostedPage {
    /// `listening`: the public listener's bound address, the origin when none is configured
    /// (an unspecified address becomes loopback). Keys are derived from `secret`
    /// (`security.source_account_key`), one per use.
    pub fn new(
        settings: &HostedPageSettings,
        listening: SocketAddr,
        secret: &SecretString,
    ) -> Self {
        let base_url = settings.public_base_url.clone().unwrap_or_else(|| {
            let ip = match listening.ip() {
                ip if !ip.is_unspecified() => ip,
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
            let origin = format!("http://{}", SocketAddr::new(ip, listening.port()));
            // An IP address and a port always make a URL.
            Url::parse(&origin).unwrap_or_else(|_| unreachable!("{origin} is a URL"))
        });
        Self {
            base_url,
            frame_ancestors: settings.frame_ancestors.clone(),
            csrf_key: derived_key(secret, b"checkout-gateway/payment-page/csrf/v1"),
            seal_key: derived_key(secret, b"checkout-gateway/payment-session/seal/v1"),
        }
    }

    /// The link of a session: `<origin>/pay/<token>`.
    pub fn session_url(&self, token: &SessionToken) -> String {
        let origin = self.base_url.as_str().trim_end_matches('/');
        format!("{origin}{PREFIX}{}", token.expose())
    }

    /// Cookies are `Secure` when users reach the page over https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }
}

/// The page's routes, every response through [`headers::secure`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/pay")
            .wrap(from_fn(headers::secure))
            .route("/assets/{file}", web::get().to(assets::asset))
            .route("/{token}", web::get().to(page::show))
            .route("/{token}", web::post().to(page::pay)),
    );
}
