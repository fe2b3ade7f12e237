//! Where the hosted page sends the user back: the allow-list of prefixes the operator
//! configures (`hosted_page.return_urls`, [`ReturnUrls`]) and a session's URL checked against
//! it ([`ReturnUrl`]), with the checkout id and the outcome added on the way back.
//!
//! A URL fits a prefix when, parsed, it has the same scheme, host and port, and its path is
//! the prefix's path or continues it after a `/` (`/example/` admits `/example/return`, `/app`
//! admits `/app/done` but not `/apple`). It carries no user name or password and no fragment.
//! Comparing parsed URLs, not strings, keeps `https://partner.example.evil.test/` and
//! `https://partner.example@evil.test/` out of `https://partner.example/`.

use url::Url;

use crate::ids::CheckoutId;

/// Longer return URLs are refused: a link a browser or a WebView is sure to follow.
const MAX_LEN: usize = 2048;

/// Schemes a prefix may never have: they run code or read local data rather than navigate.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about"];

/// The configured prefixes.
#[derive(Debug, Clone, Default)]
pub struct ReturnUrls(Vec<Url>);

impl ReturnUrls {
    /// The prefixes as configured. `allow_http`: plain `http://` prefixes are accepted
    /// (outside production). The error names the entry and what is wrong with it.
    pub fn parse(entries: &[&str], allow_http: bool) -> Result<Self, String> {
        let mut prefixes = Vec::with_capacity(entries.len());
        for entry in entries {
            let url = Url::parse(entry).map_err(|e| format!("`{entry}`: {e}"))?;
            let problem = if FORBIDDEN_SCHEMES.contains(&url.scheme()) {
                Some("this scheme cannot be a return URL")
            } else if url.scheme() == "http" && !allow_http {
                Some("plain http is allowed only outside production; use https")
            } else if url.cannot_be_a_base() {
                Some("not a hierarchical URL (write `scheme://host/path`)")
            } else if url.has_authority()
                && (!url.username().is_empty() || url.password().is_some())
            {
                Some("must not carry a user name or password")
            } else if url.query().is_some() || url.fragment().is_some() {
                Some("a prefix has no query or fragment")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(format!("`{entry}`: {problem}"));
            }
            prefixes.push(url);
        }
        Ok(Self(prefixes))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn admits(&self, url: &Url) -> bool {
        self.0.iter().any(|prefix| fits(prefix, url))
    }
}

fn fits(prefix: &Url, url: &Url) -> bool {
    prefix.scheme() == url.scheme()
        && prefix.host_str() == url.host_str()
        && prefix.port_or_known_default() == url.port_or_known_default()
        && continues(prefix.path(), url.path())
}

/// `path` is `prefix`, or goes on from it after a `/`.
fn continues(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => {
            rest.is_empty() || prefix.is_empty() || prefix.ends_with('/') || rest.starts_with('/')
        }
        None => false,
    }
}

/// Why a return URL was refused. Messages name the rule, never the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReturnUrlError {
    #[error("must be an absolute URL")]
    NotAUrl,
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must not have a fragment (`#…`)")]
    Fragment,
    #[error("is not under any return URL this gateway allows (hosted_page.return_urls)")]
    NotAllowed,
}

/// A return URL that fits the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrl(Url);

impl ReturnUrl {
    pub fn parse(text: &str, allowed: &ReturnUrls) -> Result<Self, ReturnUrlError> {
        if text.len() > MAX_LEN {
            return Err(ReturnUrlError::TooLong);
        }
        let url = Url::parse(text.trim()).map_err(|_| ReturnUrlError::NotAUrl)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ReturnUrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(ReturnUrlError::Fragment);
        }
        if !allowed.admits(&url) {
            return Err(ReturnUrlError::NotAllowed);
        }
        Ok(Self(url))
    }

    /// A session's stored return URL: it fitted the allow-list when the session was made (a
    /// prefix removed since does not strand the user on the page).
    pub fn stored(url: Url) -> Self {
        Self(url)
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// Where the user goes back to: this URL with `checkout_id` and `outcome` added to its
    /// query (after `?`, or `&` when it has one). Nothing else: no card data, no token.
    pub fn with_outcome(&self, checkout: CheckoutId, outcome: Outcome) -> Url {
        let mut url = self.0.clone();
        url.query_pairs_mut()
            .append_pair("checkout_id", &checkout.to_string())
            .append_pair("outcome", outcome.as_str());
        url
    }

    /// The CSP source that admits a navigation to this URL: its origin for http(s), its
    /// scheme (`partnerapp:`) for an app's own scheme, whose origins are opaque.
    pub fn csp_source(&self) -> String {
        match self.0.origin() {
            origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
            url::Origin::Opaque(_) => format!("{}:", self.0.scheme()),
        }
    }
}

/// How the page ended, for the partner's app (the `outcome` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The payment was accepted: the app may purchase.
    PaymentAccepted,
    /// The payment still ran when the page's wait ended: the app reads the checkout.
    Pending,
    /// The checkout can no longer be paid (released, failed).
    Failed,
    /// The hold or the link ran out.
    Expired,
    /// The user chose to go back without paying.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentAccepted => "payment_accepted",
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> ReturnUrls {
        ReturnUrls::parse(entries, true).expect("valid prefixes")
    }

    #[test]
    fn urls_under_a_prefix_fit_and_lookalikes_do_not() {
        let allowed = allow(&[
            "https://partner.example/app",
            "http://127.0.0.1:8080/example/",
            "partnerapp://checkout",
        ]);
        for ok in [
            "https://partner.example/app",
            "https://partner.example/app/done?x=1",
            "https://PARTNER.example:443/app/done",
            "http://127.0.0.1:8080/example/return",
            "partnerapp://checkout",
            "partnerapp://checkout/done?from=web",
        ] {
            assert!(ReturnUrl::parse(ok, &allowed).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("https://partner.example/apple", ReturnUrlError::NotAllowed),
            ("https://partner.example/", ReturnUrlError::NotAllowed),
            ("http://partner.example/app", ReturnUrlError::NotAllowed),
            (
                "https://partner.example:8443/app",
                ReturnUrlError::NotAllowed,
            ),
            (
                "https://partner.example.evil.test/app",
                ReturnUrlError::NotAllowed,
            ),
            ("https://evil.test/app", ReturnUrlError::NotAllowed),
            (
                "https://partner.example/app/../admin",
                ReturnUrlError::NotAllowed,
            ),
            (
                "https://partner.example/app/%2e%2e/admin",
                ReturnUrlError::NotAllowed,
            ),
            ("http://127.0.0.1:8080/example", ReturnUrlError::NotAllowed),
            (
                "http://localhost:8080/example/return",
                ReturnUrlError::NotAllowed,
            ),
            ("partnerapp://other", ReturnUrlError::NotAllowed),
            ("javascript:alert(1)", ReturnUrlError::NotAllowed),
            (
                "https://partner.example@evil.test/app",
                ReturnUrlError::Credentials,
            ),
            (
                "https://user:pw@partner.example/app",
                ReturnUrlError::Credentials,
            ),
            ("https://partner.example/app#x", ReturnUrlError::Fragment),
            ("/app/done", ReturnUrlError::NotAUrl),
            ("not a url", ReturnUrlError::NotAUrl),
        ] {
            assert_eq!(ReturnUrl::parse(bad, &allowed), Err(why), "{bad}");
        }
        let long = format!("https://partner.example/app/{}", "a".repeat(MAX_LEN));
        assert_eq!(
            ReturnUrl::parse(&long, &allowed),
            Err(ReturnUrlError::TooLong)
        );
        // Nothing is allowed when nothing is configured.
        assert_eq!(
            ReturnUrl::parse("https://partner.example/app", &ReturnUrls::default()),
            Err(ReturnUrlError::NotAllowed)
        );
    }

    #[test]
    fn prefixes_are_checked_when_configured() {
        assert!(ReturnUrls::parse(&["https://partner.example/app/"], false).is_ok());
        for (bad, allow_http) in [
            ("http://partner.example/app", false),
            ("javascript://x/", true),
            ("data:text/html,x", true),
            ("mailto:someone@example.com", true),
            ("https://user@partner.example/", true),
            ("https://partner.example/?q=1", true),
            ("https://partner.example/#top", true),
            ("not a url", true),
        ] {
            let err = ReturnUrls::parse(&[bad], allow_http).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn the_way_back_carries_the_checkout_and_the_outcome_only() {
        let allowed = allow(&["https://partner.example/app", "partnerapp://checkout"]);
        let id: CheckoutId = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12".parse().unwrap();
        let plain = ReturnUrl::parse("https://partner.example/app/done", &allowed).unwrap();
        assert_eq!(
            plain.with_outcome(id, Outcome::PaymentAccepted).as_str(),
            "https://partner.example/app/done?checkout_id=chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12\
             &outcome=payment_accepted"
        );
        let queried = ReturnUrl::parse("https://partner.example/app?order=7", &allowed).unwrap();
        assert_eq!(
            queried.with_outcome(id, Outcome::Cancelled).as_str(),
            "https://partner.example/app?order=7&checkout_id=chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12\
             &outcome=cancelled"
        );
        let app = ReturnUrl::parse("partnerapp://checkout/done", &allowed).unwrap();
        assert_eq!(
            app.with_outcome(id, Outcome::Expired).as_str(),
            "partnerapp://checkout/done?checkout_id=chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12\
             &outcome=expired"
        );
        assert_eq!(plain.csp_source(), "https://partner.example");
        assert_eq!(app.csp_source(), "partnerapp:");
        let port = allow(&["http://127.0.0.1:8080/example/"]);
        let local = ReturnUrl::parse("http://127.0.0.1:8080/example/return", &port).unwrap();
        assert_eq!(local.csp_source(), "http://127.0.0.1:8080");
    }
}
