//! The security headers of every `/pay` response ([`secure`], a middleware on the scope) and
//! the page's Content-Security-Policy ([`csp`]): nothing but this origin's own styles and
//! scripts, forms posted only here or (Chromium checks `form-action` on the redirect after a
//! submit too) to the session's return URL, framing only by the configured ancestors.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::http::state::AppState;

/// `hosted_page.frame_ancestors`: the CSP `frame-ancestors` sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameAncestors(Vec<String>);

impl Default for FrameAncestors {
    /// Nobody may frame the page.
    fn default() -> Self {
        Self(vec![NONE.to_owned()])
    }
}

const NONE: &str = "'none'";

impl FrameAncestors {
    /// The sources as configured: `'none'` (alone), `'self'`, scheme sources (`https:`) and
    /// host sources (`https://app.partner.example`, `https://*.partner.example:8443`).
    /// `allow_http`: plain http sources and `*` are accepted (outside production).
    pub fn parse(items: &[&str], allow_http: bool) -> Result<Self, String> {
        if items.is_empty() {
            return Err("at least one source; \"'none'\" to refuse every frame".into());
        }
        if items.contains(&NONE) && items.len() > 1 {
            return Err("'none' stands alone".into());
        }
        for item in items {
            source_problem(item, allow_http).map_or(Ok(()), |p| Err(format!("`{item}`: {p}")))?;
        }
        Ok(Self(items.iter().map(|s| (*s).to_owned()).collect()))
    }

    /// Nobody may frame the page (then `X-Frame-Options: DENY` is sent too).
    pub fn is_none(&self) -> bool {
        self.0 == [NONE]
    }

    fn sources(&self) -> String {
        self.0.join(" ")
    }
}

/// What is wrong with one source, if anything.
fn source_problem(source: &str, allow_http: bool) -> Option<&'static str> {
    if source.starts_with('\'') {
        return (!matches!(source, "'none'" | "'self'"))
            .then_some("the only keywords are 'none' and 'self'");
    }
    let plain = source
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'));
    if !plain {
        return Some("not a CSP source (no spaces, quotes, `;` or `,`)");
    }
    let lower = source.to_ascii_lowercase();
    if !allow_http && (lower == "*" || lower == "http:" || lower.starts_with("http://")) {
        return Some("only https sources in production");
    }
    let scheme_source = lower.ends_with(':') && !lower.contains('/');
    let host = lower.split_once("://").map_or(lower.as_str(), |(_, h)| h);
    let host = host.split(['/', ':']).next().unwrap_or_default();
    let host_ok = host == "*"
        || host
            .strip_prefix("*.")
            .unwrap_or(host)
            .split('.')
            .all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
    (!(scheme_source || host_ok)).then_some("not a CSP source (e.g. https://app.partner.example)")
}

/// The page's policy; `return_to`: the CSP source of the session's return URL (see
/// `ReturnUrl::csp_source`), which the form's redirect goes to.
pub fn csp(frame_ancestors: &FrameAncestors, return_to: Option<&str>) -> String {
    let form_action = match return_to {
        Some(source) => format!("'self' {source}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         form-action {form_action}; frame-ancestors {}; base-uri 'none'",
        frame_ancestors.sources()
    )
}

/// Every `/pay` response: never cached (`no-store`: a page holds a CSRF token and billing
/// details), no `Referer` sent from it (its URL holds the token), no content-type sniffing,
/// and the strict policy unless the handler set one naming its return URL.
pub async fn secure(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let frame_ancestors = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.hosted.frame_ancestors.clone())
        .unwrap_or_default();
    let mut resp = next.call(req).await?;
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if frame_ancestors.is_none() {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(policy) = HeaderValue::from_str(&csp(&frame_ancestors, None))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_are_checked() {
        assert!(FrameAncestors::parse(&["'none'"], false).unwrap().is_none());
        let some = FrameAncestors::parse(
            &[
                "'self'",
                "https://app.partner.example",
                "https://*.partner.example:8443",
            ],
            false,
        )
        .unwrap();
        assert!(!some.is_none());
        assert_eq!(
            csp(&some, Some("partnerapp:")),
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self' partnerapp:; frame-ancestors 'self' https://app.partner.example \
             https://*.partner.example:8443; base-uri 'none'"
        );
        assert!(FrameAncestors::parse(&["http://localhost:8080", "*"], true).is_ok());
        for (bad, allow_http) in [
            (&[][..], true),
            (&["'none'", "'self'"][..], true),
            (&["'unsafe-inline'"][..], true),
            (&["https://a.example; script-src *"][..], true),
            (&["https://a b"][..], true),
            (&["http://localhost:8080"][..], false),
            (&["*"][..], false),
            (&["https://bad_host.example"][..], false),
        ] {
            assert!(FrameAncestors::parse(bad, allow_http).is_err(), "{bad:?}");
        }
    }
}
