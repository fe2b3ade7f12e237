//! Driving the hosted payment page the way a browser does: open a payment session, load the
//! page (keeping its CSRF cookie), post the form, and read each `303` instead of following it.

use reqwest::header::HeaderMap;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::*;

/// The partner's return page, under the prefix [`spawn_hosted_app`] allows.
pub const RETURN_URL: &str = "https://app.partner.example/checkout/return";

/// An app whose payment pages may return to [`RETURN_URL`]; `overrides` on top.
pub async fn spawn_hosted_app(overrides: &[(&str, &str)]) -> TestApp {
    let mut all = vec![(
        "hosted_page.return_urls",
        "https://app.partner.example/checkout/",
    )];
    all.extend_from_slice(overrides);
    spawn_app_with(&all).await
}

/// A browser that follows no redirect (each 303 is read) and keeps no cookie by itself.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// `POST /v1/checkouts/{id}/payment-session` as `user`.
pub async fn create_session(app: &TestApp, user: &str, id: &str, body: Value) -> Response {
    app.request(
        Method::POST,
        &format!("/v1/checkouts/{id}/payment-session"),
        user,
    )
    .json(&body)
    .send()
    .await
    .expect("request")
}

/// A session's link for `user`'s checkout `id`, returning to [`RETURN_URL`].
pub async fn session_url(app: &TestApp, user: &str, id: &str) -> String {
    let resp = create_session(app, user, id, json!({"return_url": RETURN_URL})).await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    body["url"].as_str().expect("a url").to_owned()
}

/// The token at the end of a session's link.
pub fn token_of(url: &str) -> &str {
    url.rsplit('/').next().expect("a path")
}

/// A page as loaded: status, headers, HTML, and the CSRF cookie it set (`name=value`).
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub html: String,
    pub cookie: Option<String>,
}

impl Page {
    /// The `value` of the form's hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let at = self
            .html
            .find(r#"name="csrf" value=""#)
            .expect("a csrf field");
        let rest = &self.html[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').expect("closing quote")].to_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

pub async fn load(url: &str) -> Page {
    page_of(browser().get(url).send().await.expect("request")).await
}

pub async fn page_of(resp: Response) -> Page {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("ps_csrf="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned());
    let html = resp.text().await.expect("a body");
    Page {
        status,
        headers,
        html,
        cookie,
    }
}

/// The form's fields as a browser sends them: `card` and `cvv`, the rest filled in well.
pub fn form(csrf: &str, card: &str, cvv: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_owned()),
        ("card_number", card.to_owned()),
        ("expire_month", "12".into()),
        ("expire_year", "2020".into()),
        ("cvv", cvv.to_owned()),
        ("first_name", "John".into()),
        ("last_name", "Doe".into()),
        ("email", "john.doe@example.com".into()),
        ("phone", "212-867-5309".into()),
        ("line1", "123 Main Street".into()),
        ("line2", String::new()),
        ("city", "Los Angeles".into()),
        ("region", "CA".into()),
        ("postal_code", "90210".into()),
        ("country", "US".into()),
    ]
}

/// Posts `fields` to the page at `url` with `cookie`, as the page's own form does (same
/// origin).
pub async fn post(url: &str, cookie: Option<&str>, fields: &[(&str, String)]) -> Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = browser()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("request")
}

/// Loads the page at `url` and posts its form with `card` and `cvv`.
pub async fn pay_on_page(url: &str, card: &str, cvv: &str) -> Response {
    let page = load(url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    post(url, page.cookie.as_deref(), &form(&page.csrf(), card, cvv)).await
}

/// How many payments the sandbox has been sent.
pub fn payments_sent(app: &TestApp) -> u64 {
    let stats = app.sandbox().stats();
    stats
        .requests_by_operation
        .get("payment")
        .copied()
        .unwrap_or(0)
}

/// The `Location` of a redirect.
pub fn location(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned()
}
