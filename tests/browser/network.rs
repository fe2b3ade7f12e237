//! What the browser sent and got, observed from outside the page: Chrome's `performance` log
//! carries the DevTools `Network.requestWillBeSent` event of every request the browser makes
//! (fetch and XHR, navigations, form posts, frames, whatever started them) with its URL,
//! headers and body, and `Network.responseReceived` with each answer's status and headers. Chosen over a `fetch` wrapper injected into the page, which sees only the calls made
//! through it in documents it was injected into, and over a recording proxy, which needs
//! Chromium's proxy settings or the page's URLs rewritten and an HTTP proxy written for it.
//!
//! A log that silently lost bodies would make "no card number was sent" pass for nothing, so
//! tests also assert that something they know was sent (a captcha token, an idempotency key)
//! is found in it.

use base64::Engine as _;
use serde_json::Value;

use crate::session::Browser;

/// One request the browser sent.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub method: String,
    pub url: String,
    /// The headers as DevTools reports them (names and values).
    pub headers: Vec<(String, String)>,
    /// The body, when there was one (decoded from DevTools' base64 entries).
    pub body: String,
    /// What kind of request: `Document`, `Fetch`, `Stylesheet`, `Script`, …
    pub kind: String,
}

impl SentRequest {
    /// The URL's path (no query).
    pub fn path(&self) -> String {
        path_of(&self.url)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// Whether the card number is anywhere in the request, also written with the separators
    /// a form or a person adds (spaces, `-`, `+` and `%20` of form encoding).
    pub fn carries_card_number(&self, number: &str) -> bool {
        let squeeze = |s: &str| {
            s.replace("%20", "")
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '+'))
                .collect::<String>()
        };
        let everything = format!(
            "{} {} {}",
            self.url,
            self.body,
            self.headers
                .iter()
                .map(|(n, v)| format!("{n}:{v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        squeeze(&everything).contains(number)
    }
}

/// One answer the browser got.
#[derive(Debug, Clone)]
pub struct ReceivedResponse {
    pub url: String,
    pub status: u16,
    /// The headers as DevTools reports them (names as sent, values joined by newlines).
    pub headers: Vec<(String, String)>,
}

impl ReceivedResponse {
    pub fn path(&self) -> String {
        path_of(&self.url)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

fn path_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default()
}

/// A header's value, its name matched without regard to case.
fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Browser {
    /// Every request the browser has sent in this session so far.
    pub async fn requests_sent(&self) -> Vec<SentRequest> {
        self.network_events()
            .await
            .iter()
            .filter_map(sent_request)
            .collect()
    }

    /// Every answer the browser has received in this session so far.
    pub async fn responses_received(&self) -> Vec<ReceivedResponse> {
        self.network_events()
            .await
            .iter()
            .filter_map(received_response)
            .collect()
    }

    /// Chrome's network events so far: the new ones drained from its log, kept with the rest.
    async fn network_events(&self) -> Vec<Value> {
        let entries = self
            .driver
            .get_log("performance")
            .await
            .expect("Chrome's performance log (goog:loggingPrefs)");
        let new = entries
            .iter()
            .filter_map(|entry| serde_json::from_str::<Value>(&entry.message).ok())
            .map(|event| event["message"].clone())
            .filter(|message| {
                message["method"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Network."))
            });
        let mut events = self
            .network_events
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        events.extend(new);
        events.clone()
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn header_pairs(headers: &Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .map(|h| h.iter().map(|(n, v)| (n.clone(), text(v))).collect())
        .unwrap_or_default()
}

/// The answer of a `Network.responseReceived` event.
fn received_response(message: &Value) -> Option<ReceivedResponse> {
    if message["method"] != "Network.responseReceived" {
        return None;
    }
    let response = &message["params"]["response"];
    Some(ReceivedResponse {
        url: text(&response["url"]),
        status: response["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0),
        headers: header_pairs(&response["headers"]),
    })
}

/// The request of a `Network.requestWillBeSent` event.
fn sent_request(message: &Value) -> Option<SentRequest> {
    if message["method"] != "Network.requestWillBeSent" {
        return None;
    }
    let params = &message["params"];
    let request = &params["request"];
    let headers = header_pairs(&request["headers"]);
    // `postData` is the body as text when DevTools has it whole; `postDataEntries` has every
    // part, base64. Both are kept: either alone would do.
    let mut body = text(&request["postData"]);
    for part in request["postDataEntries"].as_array().into_iter().flatten() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(part["bytes"].as_str().unwrap_or_default())
            .unwrap_or_default();
        body.push('\n');
        body.push_str(&String::from_utf8_lossy(&bytes));
    }
    Some(SentRequest {
        method: text(&request["method"]),
        url: text(&request["url"]),
        headers,
        body,
        kind: text(&params["type"]),
    })
}

/// Fails, naming the request, when any request the browser sent carries `card_number`, except
/// those `may_carry_it` allows (the hosted payment page's own form post).
pub fn assert_no_card_number(
    sent: &[SentRequest],
    card_number: &str,
    may_carry_it: impl Fn(&SentRequest) -> bool,
) {
    for request in sent.iter().filter(|r| !may_carry_it(r)) {
        assert!(
            !request.carries_card_number(card_number),
            "the card number was sent by the browser in {} {} ({})",
            request.method,
            request.path(),
            request.kind
        );
    }
}
