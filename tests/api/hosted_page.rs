//! The hosted payment page end to end: payment sessions (`POST …/payment-session`) and
//! `/pay/{token}`, against the in-process sandbox. The page pays as `PUT …/payment` does and
//! returns to the partner with the checkout id and the outcome only; card data shows up in no
//! answer, no redirect and no stored row.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::hosted_support::*;

const DECLINED_CARD: &str = "4000000000000002";

#[tokio::test]
async fn a_session_is_a_single_link_that_is_never_cached_or_stored() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("sam").await;
    let before = chrono::Utc::now();
    let resp = create_session(&app, "sam", &id, json!({"return_url": RETURN_URL})).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(resp.headers().get("location").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    let url = body["url"].as_str().unwrap();
    let prefix = format!("{}/pay/", app.address);
    assert!(url.starts_with(&prefix), "{url}");
    let token = token_of(url);
    assert!(token.starts_with("ps_") && token.len() == 46, "{token}");
    // Ten minutes by default, or the hold's end (the sandbox holds seats for 299 s).
    let expires_at: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    let checkout = app.get_json(&format!("/v1/checkouts/{id}"), "sam").await;
    let hold: chrono::DateTime<chrono::Utc> = checkout["hold_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        expires_at > before && expires_at <= hold,
        "{expires_at} vs {hold}"
    );

    // Only the token's SHA-256 is stored.
    let dump = database_dump(&app);
    assert!(!dump.contains(token), "the token is stored");
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    assert!(dump.contains(&hash), "no session row by the token's hash");
    // A second session for the same checkout is another link.
    assert_ne!(session_url(&app, "sam", &id).await, url);
}

#[tokio::test]
async fn a_session_is_refused_for_someone_elses_checkout_a_wrong_state_or_a_foreign_return() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("owner").await;
    let ok = json!({"return_url": RETURN_URL});
    assert_problem(
        create_session(&app, "intruder", &id, ok.clone()).await,
        404,
        "not_found",
    )
    .await;
    let unknown = "chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12";
    assert_problem(
        create_session(&app, "owner", unknown, ok.clone()).await,
        404,
        "not_found",
    )
    .await;

    for (return_url, why) in [
        ("https://evil.test/checkout/return", "is not under"),
        ("https://app.partner.example/elsewhere", "is not under"),
        (
            "https://app.partner.example/checkout/return#frag",
            "fragment",
        ),
        ("javascript:alert(1)", "is not under"),
        ("checkout/return", "absolute URL"),
    ] {
        let resp = create_session(&app, "owner", &id, json!({"return_url": return_url})).await;
        let body = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "return_url", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{return_url}: {message}");
    }
    // A billing prefill is checked by the payment's rules, field by field.
    let resp = create_session(
        &app,
        "owner",
        &id,
        json!({"return_url": RETURN_URL, "billing": {
            "email": "not-an-email", "address": {"country": "US", "region": "ZZ"}}}),
    )
    .await;
    let body = assert_problem(resp, 422, "validation_failed").await;
    let fields = problem_fields(&body);
    assert_eq!(
        fields,
        ["billing.email", "billing.address.region"],
        "{body}"
    );

    // Paid already: not reserved any more.
    let paid = app.paid("owner").await;
    let resp = create_session(&app, "owner", &paid, ok).await;
    assert_problem(resp, 409, "invalid_state").await;
}

#[tokio::test]
async fn the_page_sends_every_security_header_and_labels_every_field() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("lee").await;
    let prefill = json!({"return_url": RETURN_URL, "billing": {
        "first_name": "<b>Zoë</b>", "last_name": "O'Brien\"", "email": "zoe@example.com",
        "address": {"city": "Toronto", "country": "CA", "region": "ON"}}});
    let resp = create_session(&app, "lee", &id, prefill).await;
    assert_eq!(resp.status(), 201);
    let url = resp.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = load(&url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.header("content-type").starts_with("text/html"));
    assert_eq!(
        page.header("content-security-policy"),
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         form-action 'self' https://app.partner.example; frame-ancestors 'none'; \
         base-uri 'none'"
    );
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    let set_cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ps_csrf="))
        .expect("the CSRF cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/pay/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!page.csrf().is_empty());

    for (field, autocomplete) in [
        ("card_number", "cc-number"),
        ("expire_month", "cc-exp-month"),
        ("expire_year", "cc-exp-year"),
        ("cvv", "cc-csc"),
        ("first_name", "given-name"),
        ("last_name", "family-name"),
        ("email", "email"),
        ("phone", "tel"),
        ("line1", "address-line1"),
        ("line2", "address-line2"),
        ("city", "address-level2"),
        ("region", "address-level1"),
        ("postal_code", "postal-code"),
        ("country", "country"),
    ] {
        assert!(
            page.html.contains(&format!(r#"<label for="{field}">"#)),
            "{field}"
        );
        let input = input_tag(&page.html, field);
        assert!(input.contains(&format!(r#"name="{field}""#)), "{input}");
        assert!(
            input.contains(&format!(r#"autocomplete="{autocomplete}""#)),
            "{input}"
        );
    }
    for numeric in ["card_number", "cvv", "expire_month", "expire_year"] {
        let input = input_tag(&page.html, numeric);
        assert!(input.contains(r#"inputmode="numeric""#), "{input}");
        assert!(
            !input.contains("value="),
            "a card field is prefilled: {input}"
        );
    }
    assert!(page.html.contains(r#"id="pay""#));
    assert!(page.html.contains(r#"id="errors""#) && page.html.contains(r#"role="alert""#));
    assert!(page.html.contains(r#"<html lang="en">"#));
    // The prefill, escaped; the way back with `outcome=cancelled`.
    assert!(
        page.html.contains("value=\"&lt;b&gt;Zoë&lt;/b&gt;\""),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("value=\"O&#39;Brien&quot;\""),
        "{}",
        page.html
    );
    assert!(!page.html.contains("<b>Zoë"));
    assert!(page.html.contains(&format!(
        "{RETURN_URL}?checkout_id={id}&amp;outcome=cancelled"
    )));

    // The stylesheet and script: first-party, with the same headers.
    for (asset, content_type) in [("pay.css", "text/css"), ("pay.js", "text/javascript")] {
        let resp = browser()
            .get(format!("{}/pay/assets/{asset}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
        let headers = resp.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers.contains_key("content-security-policy"));
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset}"
        );
    }
}

/// The `<input …>` tag with `id="{id}"`.
fn input_tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!(r#"<input id="{id}""#))
        .unwrap_or_else(|| panic!("no input #{id}"));
    &html[at..at + html[at..].find('>').unwrap() + 1]
}

#[tokio::test]
async fn a_good_card_pays_returns_to_the_partner_and_uses_the_link_up() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("pat").await;
    let url = session_url(&app, "pat", &id).await;
    let sent = payments_sent(&app);

    let resp = pay_on_page(&url, TEST_CARD, "123").await;
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert_eq!(
        back,
        format!("{RETURN_URL}?checkout_id={id}&outcome=payment_accepted")
    );
    let page = resp.text().await.unwrap();
    assert!(!page.contains(TEST_CARD));
    assert_eq!(payments_sent(&app), sent + 1);
    let checkout = app.get_json(&format!("/v1/checkouts/{id}"), "pat").await;
    assert_eq!(checkout["state"], "payment_accepted");
    assert_eq!(
        checkout["payment"],
        json!({"brand": "visa", "last4": "0011"})
    );

    // The link is used up: the page says so, and a second post sends nothing.
    let again = load(&url).await;
    assert_eq!(again.status, 410);
    assert!(
        again.html.contains(r#"data-reason="used""#),
        "{}",
        again.html
    );
    assert!(again.html.contains(&format!(
        "{RETURN_URL}?checkout_id={id}&amp;outcome=payment_accepted"
    )));
    let resp = post(&url, None, &form("anything", TEST_CARD, "123")).await;
    assert_eq!(resp.status(), 410);
    assert_eq!(payments_sent(&app), sent + 1);
    // The card number is nowhere the gateway keeps anything.
    let dump = database_dump(&app);
    assert!(!dump.contains(TEST_CARD) && !dump.contains("4588 8832"));
    // And the partner goes on as usual.
    assert_eq!(app.purchase("pat", &id).await.status(), 200);
}

#[tokio::test]
async fn a_declined_card_shows_its_code_and_the_link_still_pays() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("dee").await;
    let url = session_url(&app, "dee", &id).await;
    let first = load(&url).await;
    let cookie = first.cookie.clone().expect("the CSRF cookie");

    let resp = post(
        &url,
        Some(&cookie),
        &form(&first.csrf(), DECLINED_CARD, "123"),
    )
    .await;
    let page = page_of(resp).await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(
        page.html.contains(r#"data-code="payment_declined""#),
        "{}",
        page.html
    );
    // Billing kept, card fields empty.
    assert!(page.html.contains(r#"value="John""#));
    assert!(page.html.contains(r#"value="90210""#));
    assert!(!page.html.contains(DECLINED_CARD));
    assert!(!input_tag(&page.html, "card_number").contains("value="));
    let checkout = app.get_json(&format!("/v1/checkouts/{id}"), "dee").await;
    assert_eq!(checkout["state"], "reserved");
    assert_eq!(checkout["error"]["code"], "payment_declined");

    // The form shown again (its own token, the same cookie) takes another card.
    let resp = post(&url, Some(&cookie), &form(&page.csrf(), TEST_CARD, "123")).await;
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).ends_with("&outcome=payment_accepted"));
}

#[tokio::test]
async fn invalid_fields_are_named_on_the_page_and_nothing_is_sent() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("ivy").await;
    let url = session_url(&app, "ivy", &id).await;
    let sent = payments_sent(&app);
    let first = load(&url).await;
    let mut fields = form(&first.csrf(), "4588883206000012", "12");
    fields.retain(|(name, _)| *name != "email");
    let resp = post(&url, first.cookie.as_deref(), &fields).await;
    let page = page_of(resp).await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(page.html.contains(r#"data-code="validation_failed""#));
    for field in ["card_number", "cvv", "email"] {
        let input = input_tag(&page.html, field);
        assert!(input.contains(r#"aria-invalid="true""#), "{input}");
        assert!(
            input.contains(&format!(r#"aria-describedby="{field}-error""#)),
            "{input}"
        );
        assert!(
            page.html.contains(&format!(r#"id="{field}-error""#)),
            "{field}"
        );
        assert!(
            page.html.contains(&format!(r##"href="#{field}""##)),
            "{field}"
        );
    }
    assert!(!input_tag(&page.html, "phone").contains("aria-invalid"));
    assert!(!page.html.contains("4588883206000012"));
    assert_eq!(payments_sent(&app), sent);
}

/// A card number typed into a billing field (the name, an address line) is refused there —
/// it would be sent upstream in clear and kept in the session — and never written into the
/// page again; the field is named (found by review: it was kept, sent and shown again).
#[tokio::test]
async fn a_card_number_in_a_billing_field_is_refused_and_not_shown_again() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("misplaced").await;
    let url = session_url(&app, "misplaced", &id).await;
    let sent = payments_sent(&app);
    let first = load(&url).await;
    let mut fields = form(&first.csrf(), TEST_CARD, "123");
    for (name, value) in &mut fields {
        if *name == "line2" {
            *value = "4111 1111 1111 1111".into();
        }
    }
    let page = page_of(post(&url, first.cookie.as_deref(), &fields).await).await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(input_tag(&page.html, "line2").contains(r#"aria-invalid="true""#));
    assert!(
        page.html.contains("must not contain a card number"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("4111 1111"), "{}", page.html);
    assert_eq!(payments_sent(&app), sent);
}

#[tokio::test]
async fn a_post_without_its_csrf_token_and_cookie_is_refused_and_sends_nothing() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("cy").await;
    let url = session_url(&app, "cy", &id).await;
    let page = load(&url).await;
    let cookie = page.cookie.clone().expect("the CSRF cookie");
    let good = form(&page.csrf(), TEST_CARD, "123");
    let sent = payments_sent(&app);

    let mut missing = good.clone();
    missing.retain(|(name, _)| *name != "csrf");
    let forged = form("AAAAAAAAAAAAAAAAAAAAAA.forged", TEST_CARD, "123");
    let other_cookie = "ps_csrf=BBBBBBBBBBBBBBBBBBBBBB";
    for (what, cookie, fields) in [
        ("no token", Some(cookie.as_str()), &missing),
        ("a forged token", Some(cookie.as_str()), &forged),
        ("no cookie", None, &good),
        ("another cookie", Some(other_cookie), &good),
    ] {
        let resp = post(&url, cookie, fields).await;
        let refused = page_of(resp).await;
        assert_eq!(refused.status, 403, "{what}");
        assert!(refused.html.contains(r#"data-reason="csrf""#), "{what}");
        assert!(!refused.html.contains(TEST_CARD), "{what}");
    }
    // From another site: the browser says so.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&good)
        .finish();
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.test"),
    ] {
        let resp = browser()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &cookie)
            .header(header, value)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{header}: {value}");
    }
    assert_eq!(payments_sent(&app), sent, "a refused post reached upstream");
    let checkout = app.get_json(&format!("/v1/checkouts/{id}"), "cy").await;
    assert_eq!(checkout["state"], "reserved");

    // The page's own post, `Origin: null` as a no-referrer page sends it, goes through.
    let resp = browser()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn an_expired_link_is_gone_then_unknown_once_swept() {
    let app = spawn_hosted_app(&[("hosted_page.session_ttl_secs", "30")]).await;
    let id = app.reserved("exa").await;
    let url = session_url(&app, "exa", &id).await;
    let page = load(&url).await;
    assert_eq!(page.status, 200);
    let sent = payments_sent(&app);
    app.advance(31);

    let gone = load(&url).await;
    assert_eq!(gone.status, 410);
    assert!(
        gone.html.contains(r#"data-reason="expired""#),
        "{}",
        gone.html
    );
    assert!(gone.html.contains(&format!(
        "{RETURN_URL}?checkout_id={id}&amp;outcome=expired"
    )));
    assert_eq!(gone.header("cache-control"), "no-store");
    let resp = post(
        &url,
        page.cookie.as_deref(),
        &form(&page.csrf(), TEST_CARD, "123"),
    )
    .await;
    assert_eq!(resp.status(), 410);
    assert_eq!(payments_sent(&app), sent);

    // An hour after it expired, the sweeper deletes it: the link is unknown from then on.
    let sweeper = checkout_gateway::jobs::worker::Sweeper {
        context: app.context.clone(),
        service: app.service.clone(),
        config: checkout_gateway::jobs::worker::WorkerConfig {
            interval: std::time::Duration::from_secs(3600),
            abandon_after: std::time::Duration::from_secs(86_400),
            batch: 100,
        },
    };
    assert_eq!(sweeper.sweep_once().await.sessions_purged, 0);
    assert_eq!(load(&url).await.status, 410);
    app.advance(3600);
    assert_eq!(sweeper.sweep_once().await.sessions_purged, 1);
    let unknown = load(&url).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.html.contains(r#"data-reason="unknown""#));
}

#[tokio::test]
async fn a_payment_through_the_api_ends_every_session_of_the_checkout() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("api").await;
    let (first, second) = (
        session_url(&app, "api", &id).await,
        session_url(&app, "api", &id).await,
    );
    assert_eq!(app.pay("api", &id, TEST_CARD, "123").await.status(), 200);
    for url in [first, second] {
        let page = load(&url).await;
        assert_eq!(page.status, 410);
        assert!(page.html.contains(r#"data-reason="used""#));
    }
}

#[tokio::test]
async fn a_released_checkout_cannot_be_paid_on_the_page() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("rel").await;
    let url = session_url(&app, "rel", &id).await;
    let resp = app
        .request(Method::DELETE, &format!("/v1/checkouts/{id}"), "rel")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let page = load(&url).await;
    assert_eq!(page.status, 409);
    assert!(page.html.contains(r#"data-reason="not_payable""#));
    assert!(page.html.contains("outcome=failed"));
}

#[tokio::test]
async fn an_idempotent_retry_gets_the_same_link_which_is_stored_sealed() {
    let app = spawn_hosted_app(&[]).await;
    let id = app.reserved("rey").await;
    let path = format!("/v1/checkouts/{id}/payment-session");
    let create = || {
        app.request(Method::POST, &path, "rey")
            .header("Idempotency-Key", "session-1")
            .json(&json!({"return_url": RETURN_URL}))
            .send()
    };
    let first = create().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = create().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["cache-control"], "no-store");
    assert!(
        again.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    let url = first["url"].as_str().unwrap();
    assert!(
        !database_dump(&app).contains(token_of(url)),
        "the link is stored"
    );
    assert_eq!(load(url).await.status, 200);
}

#[tokio::test]
async fn unknown_and_malformed_links_are_not_found_with_the_same_headers() {
    let app = spawn_hosted_app(&[]).await;
    let well_formed = format!("ps_{}A", "A".repeat(42));
    for token in [well_formed.as_str(), "garbage", "ps_short"] {
        let page = load(&format!("{}/pay/{token}", app.address)).await;
        assert_eq!(page.status, 404, "{token}");
        assert!(page.html.contains(r#"data-reason="unknown""#), "{token}");
        assert_eq!(page.header("cache-control"), "no-store");
        assert_eq!(page.header("x-frame-options"), "DENY");
        assert!(
            page.header("content-security-policy")
                .contains("form-action 'self'; frame-ancestors 'none'")
        );
    }
}

#[tokio::test]
async fn the_way_back_keeps_the_return_urls_own_query_and_an_apps_own_scheme() {
    let app = spawn_hosted_app(&[(
        "hosted_page.return_urls",
        "https://app.partner.example/checkout/,partnerapp://checkout",
    )])
    .await;
    for (return_url, source) in [
        (
            "https://app.partner.example/checkout/return?order=7",
            "https://app.partner.example",
        ),
        ("partnerapp://checkout/done", "partnerapp:"),
    ] {
        let id = app.reserved("way").await;
        let resp = create_session(&app, "way", &id, json!({"return_url": return_url})).await;
        let url = resp.json::<Value>().await.unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = load(&url).await;
        assert!(
            page.header("content-security-policy")
                .contains(&format!("form-action 'self' {source};")),
            "{}",
            page.header("content-security-policy")
        );
        let resp = pay_on_page(&url, TEST_CARD, "123").await;
        assert_eq!(resp.status(), 303);
        let separator = if return_url.contains('?') { '&' } else { '?' };
        assert_eq!(
            location(&resp),
            format!("{return_url}{separator}checkout_id={id}&outcome=payment_accepted")
        );
    }
}

/// Every look-up of a link reads the database: a browser address past its burst is refused
/// before the look-up, with 429 and `Retry-After`, the page's form posts as well.
#[tokio::test]
async fn an_address_past_its_rate_is_refused_before_the_link_is_looked_up() {
    let app = spawn_hosted_app(&[
        ("admission.ip_burst", "3"),
        ("admission.ip_requests_per_second", "0.1"),
    ])
    .await;
    let url = format!("{}/pay/ps_{}A", app.address, "A".repeat(42));
    for _ in 0..3 {
        assert_eq!(load(&url).await.status, 404, "within the burst");
    }
    let refused = load(&url).await;
    assert_eq!(refused.status, 429);
    assert!(refused.html.contains(r#"data-reason="rate_limited""#));
    let retry: u64 = refused
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!(retry >= 1, "{retry}");
    assert_eq!(refused.header("cache-control"), "no-store");
    let posted = post(&url, None, &[("csrf", "x".to_owned())]).await;
    assert_eq!(posted.status(), 429);
}
