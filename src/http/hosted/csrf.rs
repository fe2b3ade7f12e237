//! CSRF protection of the page's form. A random nonce lives in a cookie (`HttpOnly`,
//! `SameSite=Strict`, path `/pay/`, `Secure` on an https origin); each render puts in the
//! form a token made of a fresh render nonce and HMAC(key, session token hash, cookie nonce,
//! render nonce). A post must carry a token made for its own session and for the cookie it
//! comes with, and, when the browser says where it comes from, come from this origin
//! (`Sec-Fetch-Site: same-origin`; `Origin` this origin, or `null`, which browsers send for a
//! page with `Referrer-Policy: no-referrer`, as this one has).
//!
//! The cookie is kept across renders (a second tab of the same page stays valid). A browser
//! sends a `SameSite=Strict` cookie to a page framed by a site other than the gateway's, so
//! embedding works from the same site (e.g. `app.partner.example` framing
//! `pay.partner.example`); from another site the post is refused.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::rand_core::{OsRng, RngCore};
use secrecy::SecretString;
use subtle::ConstantTimeEq;

use crate::checkout::model::SessionTokenHash;
use crate::digest::keyed_digest;

pub const COOKIE: &str = "ps_csrf";
const NONCE_BYTES: usize = 16;
/// base64url of 16 bytes, without padding.
const NONCE_LEN: usize = 22;

/// The form's token, and the cookie to set when the request brought none.
pub struct Issued {
    pub token: String,
    pub cookie: Option<Cookie<'static>>,
}

/// A token for a form of `session` rendered for `req`.
pub fn issue(
    req: &HttpRequest,
    key: &SecretString,
    session: &SessionTokenHash,
    secure: bool,
) -> Issued {
    let (nonce, cookie) = match cookie_nonce(req) {
        Some(nonce) => (nonce, None),
        None => {
            let nonce = random_nonce();
            let cookie = Cookie::build(COOKIE, nonce.clone())
                .path("/pay/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(secure)
                .finish();
            (nonce, Some(cookie))
        }
    };
    let render = random_nonce();
    let mac = mac(key, session, &nonce, &render);
    Issued {
        token: format!("{render}.{mac}"),
        cookie,
    }
}

/// Why a post was refused (for the logs: which check failed, nothing of the values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the browser says the form came from another site (Sec-Fetch-Site)")]
    CrossSite,
    #[error("the form came from another origin (Origin)")]
    OtherOrigin,
    #[error("no CSRF cookie")]
    NoCookie,
    #[error("the form's CSRF token does not match")]
    BadToken,
}

/// Whether a post to `session` with the form's `token` is this page's own. `origin` is the
/// gateway's public origin (`https://pay.partner.example`).
pub fn check(
    req: &HttpRequest,
    key: &SecretString,
    session: &SessionTokenHash,
    token: &str,
    origin: &url::Url,
) -> Result<(), Refused> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| site != "same-origin") {
        return Err(Refused::CrossSite);
    }
    if let Some(from) = header("origin").filter(|o| *o != "null")
        && !same_origin(req, from, origin)
    {
        return Err(Refused::OtherOrigin);
    }
    let nonce = cookie_nonce(req).ok_or(Refused::NoCookie)?;
    let (render, mac_given) = token.split_once('.').ok_or(Refused::BadToken)?;
    if render.len() != NONCE_LEN {
        return Err(Refused::BadToken);
    }
    let expected = mac(key, session, &nonce, render);
    if bool::from(expected.as_bytes().ct_eq(mac_given.as_bytes())) {
        Ok(())
    } else {
        Err(Refused::BadToken)
    }
}

/// `from` (an `Origin` header) is the gateway's public origin, or the origin the request was
/// addressed to (its host, as the browser sent it).
fn same_origin(req: &HttpRequest, from: &str, origin: &url::Url) -> bool {
    let Ok(from) = url::Url::parse(from) else {
        return false;
    };
    if from.origin() == origin.origin() {
        return true;
    }
    let host = match (from.host_str(), from.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => return false,
    };
    host.eq_ignore_ascii_case(req.connection_info().host())
}

fn cookie_nonce(req: &HttpRequest) -> Option<String> {
    let cookie = req.cookie(COOKIE)?;
    let value = cookie.value();
    let shaped = value.len() == NONCE_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    shaped.then(|| value.to_owned())
}

fn random_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn mac(key: &SecretString, session: &SessionTokenHash, nonce: &str, render: &str) -> String {
    let digest = keyed_digest(
        key,
        &[
            b"payment-page/csrf/v1\n",
            session.as_str().as_bytes(),
            b"\n",
            nonce.as_bytes(),
            b"\n",
            render.as_bytes(),
        ],
    );
    URL_SAFE_NO_PAD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn session(byte: u8) -> SessionTokenHash {
        SessionTokenHash::from_digest(&[byte; 32])
    }

    fn origin() -> url::Url {
        url::Url::parse("https://pay.partner.example").unwrap()
    }

    /// A request carrying the cookie `issued` set.
    fn with_cookie(issued: &Issued) -> TestRequest {
        let cookie = issued
            .cookie
            .clone()
            .expect("a first render sets the cookie");
        TestRequest::post()
            .insert_header(("host", "pay.partner.example"))
            .cookie(cookie)
    }

    #[test]
    fn a_token_holds_for_its_session_and_cookie_only() {
        let key = SecretString::from("csrf-key");
        let first = issue(
            &TestRequest::get().to_http_request(),
            &key,
            &session(1),
            true,
        );
        let cookie = first.cookie.clone().unwrap();
        assert!(cookie.http_only().unwrap_or(false));
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        assert_eq!(cookie.path(), Some("/pay/"));
        assert_eq!(cookie.secure(), Some(true));

        let post = with_cookie(&first).to_http_request();
        assert_eq!(
            check(&post, &key, &session(1), &first.token, &origin()),
            Ok(())
        );
        // Another session, another key, a forged token, no cookie.
        assert_eq!(
            check(&post, &key, &session(2), &first.token, &origin()),
            Err(Refused::BadToken)
        );
        let other = SecretString::from("other-key");
        assert_eq!(
            check(&post, &other, &session(1), &first.token, &origin()),
            Err(Refused::BadToken)
        );
        for forged in [
            "",
            "x",
            "a.b",
            &format!("{}.{}", "A".repeat(22), "B".repeat(43)),
        ] {
            assert_eq!(
                check(&post, &key, &session(1), forged, &origin()),
                Err(Refused::BadToken),
                "{forged}"
            );
        }
        let bare = TestRequest::post().to_http_request();
        assert_eq!(
            check(&bare, &key, &session(1), &first.token, &origin()),
            Err(Refused::NoCookie)
        );
        // A second render with the cookie keeps it, and both renders' tokens hold.
        let second = issue(&post, &key, &session(1), true);
        assert!(second.cookie.is_none());
        assert_ne!(second.token, first.token);
        assert_eq!(
            check(&post, &key, &session(1), &second.token, &origin()),
            Ok(())
        );
    }

    #[test]
    fn a_post_from_another_site_is_refused() {
        let key = SecretString::from("csrf-key");
        let issued = issue(
            &TestRequest::get().to_http_request(),
            &key,
            &session(1),
            false,
        );
        let check_with = |name: &str, value: &str| {
            let req = with_cookie(&issued)
                .insert_header((name.to_owned(), value.to_owned()))
                .to_http_request();
            check(&req, &key, &session(1), &issued.token, &origin())
        };
        assert_eq!(check_with("sec-fetch-site", "same-origin"), Ok(()));
        assert_eq!(
            check_with("sec-fetch-site", "cross-site"),
            Err(Refused::CrossSite)
        );
        assert_eq!(
            check_with("sec-fetch-site", "same-site"),
            Err(Refused::CrossSite)
        );
        assert_eq!(check_with("origin", "https://pay.partner.example"), Ok(()));
        assert_eq!(check_with("origin", "null"), Ok(()));
        assert_eq!(
            check_with("origin", "https://evil.test"),
            Err(Refused::OtherOrigin)
        );
        // The host the browser addressed counts as this origin too (behind a proxy).
        assert_eq!(check_with("origin", "http://pay.partner.example"), Ok(()));
    }
}
