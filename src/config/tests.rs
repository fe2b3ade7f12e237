//! Loading and validation of the settings: defaults, overrides, refusals.

use super::*;
use crate::upstream::UnredeemedQuery;

fn load(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load(&LoadOptions::local_with(overrides))
}

fn production(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut opts = LoadOptions::local_with(overrides);
    opts.env = AppEnv::Production;
    Settings::load(&opts)
}

#[test]
fn local_defaults_load() {
    let s = load(&[]).unwrap();
    assert_eq!(s.http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.upstream.target, UpstreamTarget::Sandbox);
    assert_eq!(s.upstream.requests_per_second, 5.0);
    assert!(s.admin.token.is_none());
    assert_eq!(s.checkout.abandon_after_secs, 600);
    assert_eq!(s.idempotency.takeover_after_secs, 30);
}

#[test]
fn the_idempotency_takeover_time_is_bounded() {
    for bad in ["0", "3601"] {
        let err = load(&[("idempotency.takeover_after_secs", bad)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("idempotency.takeover_after_secs"), "{err}");
    }
    let s = load(&[("idempotency.takeover_after_secs", "2")]).unwrap();
    assert_eq!(s.idempotency.takeover_after_secs, 2);
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let err = load(&[("http.listne", "127.0.0.1:1")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("listne"), "{err}");
}

#[test]
fn invalid_values_name_their_key() {
    let err = load(&[("http.listen", "nope")]).unwrap_err().to_string();
    assert!(
        err.contains("http.listen") || err.contains("listen"),
        "{err}"
    );
    let err = load(&[("upstream.requests_per_second", "0")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("upstream.requests_per_second"), "{err}");
    let err = load(&[("http.trusted_proxies", "10.0.0.0/8, bogus")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("http.trusted_proxies"), "{err}");
}

#[test]
fn maintenance_hours_are_checked() {
    let err = load(&[("maintenance.start_hour", "24")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("maintenance.start_hour"), "{err}");
    let err = load(&[("maintenance.end_hour", "2")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("maintenance.end_hour"), "{err}");
    assert!(
        load(&[
            ("maintenance.start_hour", "0"),
            ("maintenance.end_hour", "2")
        ])
        .is_ok()
    );
}

#[test]
fn unredeemed_settings_parse_and_name_their_key() {
    let s = load(&[
        ("unredeemed.time_zone", "America/New_York"),
        (
            "unredeemed.queries",
            "days_from_purchase=1, days_before_event=3",
        ),
        ("unredeemed.webhook_url", "http://127.0.0.1:1/hook"),
        (
            "unredeemed.webhook_secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
    ])
    .unwrap();
    assert_eq!(s.unredeemed.schedule.zone(), chrono_tz::America::New_York);
    assert_eq!(
        s.unredeemed.queries,
        [
            UnredeemedQuery::DaysFromPurchase(1),
            UnredeemedQuery::DaysBeforeEvent(3)
        ]
    );
    assert!(s.unredeemed.webhook.is_some());
    for (key, bad) in [
        ("unredeemed.schedule", "0 9 * * *"),
        ("unredeemed.time_zone", "Mars/Olympus"),
        ("unredeemed.queries", "weeks=2"),
        ("unredeemed.webhook_url", "not a url"),
    ] {
        let err = load(&[(key, bad)]).unwrap_err().to_string();
        assert!(err.contains(key), "{key}={bad}: {err}");
    }
    // A webhook without a (valid) secret could not be verified by its receiver.
    let err = load(&[("unredeemed.webhook_url", "http://127.0.0.1:1/hook")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("unredeemed.webhook_secret"), "{err}");
}

#[test]
fn decimal_quota_and_proxies_parse() {
    let s = load(&[
        ("upstream.requests_per_second", "4.5"),
        ("http.trusted_proxies", "10.0.0.0/8,192.168.1.1"),
    ])
    .unwrap();
    assert_eq!(s.upstream.requests_per_second, 4.5);
    assert!(
        s.upstream.budgets().is_empty(),
        "no longer budgets by default"
    );
    assert_eq!(s.http.trusted_proxies.len(), 2);
}

/// A production configuration that passes every rule.
const GOOD_PRODUCTION: [(&str, &str); 8] = [
    ("auth.jwt_hs256_secret", "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c"),
    ("auth.jwt_issuer", "https://id.partner.example/"),
    ("auth.jwt_audience", "checkout-gateway"),
    (
        "security.source_account_key",
        "1b3d5f7a9c2e4f6a8b0c1d3e5f7a9b2c",
    ),
    ("upstream.apikey", "real-key"),
    (
        "upstream.base_url",
        "https://app.ticketmaster.com/partners/v1",
    ),
    ("database.url", "postgres://db/gateway"),
    ("hosted_page.public_base_url", "https://pay.partner.example"),
];

/// `GOOD_PRODUCTION` with `key` set to `value`: the error, which must name `key`.
fn production_error(key: &str, value: &str) -> String {
    let mut o = GOOD_PRODUCTION.to_vec();
    o.retain(|(k, _)| *k != key);
    o.push((key, value));
    let err = production(&o).expect_err(key).to_string();
    assert!(err.contains(key), "{key}={value}: {err}");
    err
}

#[test]
fn production_refuses_dev_secrets_sqlite_and_the_sandbox() {
    assert!(production(&GOOD_PRODUCTION).is_ok());
    for (key, bad) in [
        (
            "auth.jwt_hs256_secret",
            "dev-only-jwt-secret-not-for-production",
        ),
        ("security.source_account_key", "dev-only-source-account-key"),
        ("upstream.apikey", "sandbox-apikey"),
        ("upstream.base_url", "sandbox"),
        ("upstream.base_url", "http://plain.example/partners/v1"),
        ("database.url", "sqlite://data/gateway.db"),
    ] {
        production_error(key, bad);
    }
}

#[test]
fn production_requires_the_token_issuer_and_audience() {
    for key in ["auth.jwt_issuer", "auth.jwt_audience"] {
        let err = production_error(key, "  ");
        assert!(err.contains("required in production"), "{err}");
    }
    // Outside production both are optional.
    let s = load(&[]).unwrap();
    assert_eq!((s.auth.jwt_issuer, s.auth.jwt_audience), (None, None));
    let s = load(&[("auth.jwt_issuer", " https://id.example/ ")]).unwrap();
    assert_eq!(s.auth.jwt_issuer.as_deref(), Some("https://id.example/"));
}

#[test]
fn production_refuses_short_secrets_by_key_without_echoing_them() {
    for key in [
        "auth.jwt_hs256_secret",
        "security.source_account_key",
        "admin.token",
    ] {
        let short = "Zq7vR2mX9pL4sT8wN1bK6yH3jD5fG0c"; // 31 bytes
        let err = production_error(key, short);
        assert!(err.contains("at least 32"), "{err}");
        assert!(!err.contains(short), "the secret is echoed: {err}");
    }
    // 32 bytes is enough; the admin token is optional (unset: admin API off).
    let mut o = GOOD_PRODUCTION.to_vec();
    o.push(("admin.token", "Zq7vR2mX9pL4sT8wN1bK6yH3jD5fG0cA"));
    assert!(production(&o).unwrap().admin.token.is_some());
    assert!(production(&GOOD_PRODUCTION).unwrap().admin.token.is_none());
    // The same short values are fine locally.
    assert!(load(&[("admin.token", "short")]).is_ok());
}

#[test]
fn production_refuses_placeholder_secrets_by_key() {
    for key in [
        "auth.jwt_hs256_secret",
        "security.source_account_key",
        "admin.token",
    ] {
        for placeholder in [
            "CHANGE-ME-CHANGE-ME-CHANGE-ME-CHANGE-ME",
            "please-replace_me-with-64-hex-characters",
            "my-super-secret-value-for-the-gateway!!",
            "Password1234567890Password1234567890",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "the-example-value-from-the-readme-file",
            "test-test-test-test-test-test-test-test",
        ] {
            let err = production_error(key, placeholder);
            assert!(err.contains("placeholder"), "{key}={placeholder}: {err}");
        }
    }
    // The webhook secret too (the `whsec_` body is valid base64 of 24 bytes).
    let mut o = GOOD_PRODUCTION.to_vec();
    o.push(("unredeemed.webhook_url", "https://hooks.partner.example/tm"));
    o.push((
        "unredeemed.webhook_secret",
        "whsec_CHANGEMEchangemeCHANGEMEchangeme",
    ));
    let err = production(&o).unwrap_err().to_string();
    assert!(err.contains("unredeemed.webhook_secret"), "{err}");
    o.pop();
    o.push((
        "unredeemed.webhook_secret",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ));
    assert!(production(&o).is_ok());
}

#[test]
fn upstream_issued_credentials_are_not_sized_by_the_gateway() {
    // Ticketmaster issues the apikey and client secret; their shape is theirs.
    let mut o = GOOD_PRODUCTION.to_vec();
    o.push(("upstream.client_secret", "short"));
    assert!(production(&o).is_ok());
}

#[test]
fn the_admin_listener_defaults_to_loopback() {
    let s = load(&[]).unwrap();
    assert!(s.admin.listen.ip().is_loopback(), "{}", s.admin.listen);
    assert_eq!(s.admin.listen.port(), 9090);
    let mut opts = LoadOptions::local_with(&GOOD_PRODUCTION);
    opts.env = AppEnv::Production;
    let s = Settings::load(&opts).unwrap();
    assert!(s.admin.listen.ip().is_loopback(), "{}", s.admin.listen);
}

#[test]
fn the_sandbox_dialect_is_a_list_or_a_comma_separated_string_and_names_its_key() {
    use crate::sandbox::Dialect;
    assert_eq!(load(&[]).unwrap().sandbox.dialect, Dialect::default());
    let expected = Dialect::parse(&["delete_purchased=refused", "poll_errors=own_status"]).unwrap();
    // The environment's form (APP__SANDBOX__DIALECT) is one string.
    let s = load(&[(
        "sandbox.dialect",
        "delete_purchased=refused, poll_errors=own_status",
    )])
    .unwrap();
    assert_eq!(s.sandbox.dialect, expected);

    let file = std::env::temp_dir().join(format!("dialect-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        "[sandbox]\ndialect = [\"opposite\", \"delete_purchased=refused\", \"poll_errors=own_status\"]\n",
    )
    .unwrap();
    let mut opts = LoadOptions::local_with(&[]);
    opts.extra_file = Some(file.clone());
    let loaded = Settings::load(&opts);
    let _ = std::fs::remove_file(&file);
    let mut opposite = Dialect::opposite();
    opposite.apply(&["poll_errors=own_status"]).unwrap();
    assert_eq!(loaded.unwrap().sandbox.dialect, opposite);

    for bad in ["delete_purchased=maybe", "nonsense=1", "refused"] {
        let err = load(&[("sandbox.dialect", bad)]).unwrap_err().to_string();
        assert!(err.contains("sandbox.dialect"), "{bad}: {err}");
    }
}

#[test]
fn the_example_app_is_on_locally_off_by_default_and_refused_in_production() {
    assert!(load(&[]).unwrap().example_app.enabled);
    assert!(!production(&GOOD_PRODUCTION).unwrap().example_app.enabled);
    let err = production_error("example_app.enabled", "true");
    assert!(err.contains("mints user tokens"), "{err}");
}

#[test]
fn the_hosted_page_defaults_admit_the_example_app_locally() {
    use crate::checkout::payment_session::ReturnUrl;
    let s = load(&[]).unwrap();
    assert_eq!(s.hosted_page.public_base_url, None);
    assert!(s.hosted_page.frame_ancestors.is_none());
    assert_eq!(s.payment_sessions.ttl, Duration::from_secs(600));
    let allowed = &s.payment_sessions.return_urls;
    for url in [
        "http://127.0.0.1:8080/example/return",
        "http://localhost:8080/example/return",
    ] {
        assert!(ReturnUrl::parse(url, allowed).is_ok(), "{url}");
    }
    // The environment's form of a list: one comma-separated string.
    let s = load(&[(
        "hosted_page.return_urls",
        "https://app.partner.example/back/, partnerapp://checkout",
    )])
    .unwrap();
    let allowed = &s.payment_sessions.return_urls;
    assert!(ReturnUrl::parse("partnerapp://checkout/done", allowed).is_ok());
    assert!(ReturnUrl::parse("http://127.0.0.1:8080/example/return", allowed).is_err());
}

#[test]
fn hosted_page_values_are_checked_by_key() {
    for (key, bad) in [
        ("hosted_page.public_base_url", "ftp://pay.partner.example"),
        (
            "hosted_page.public_base_url",
            "https://pay.partner.example/pay",
        ),
        (
            "hosted_page.public_base_url",
            "https://pay.partner.example/?x=1",
        ),
        ("hosted_page.public_base_url", "not a url"),
        ("hosted_page.session_ttl_secs", "29"),
        ("hosted_page.session_ttl_secs", "3601"),
        ("hosted_page.return_urls", "javascript:alert(1)"),
        ("hosted_page.return_urls", "https://app.partner.example/#x"),
        ("hosted_page.frame_ancestors", "'none', 'self'"),
        ("hosted_page.frame_ancestors", "'unsafe-inline'"),
    ] {
        let err = load(&[(key, bad)]).unwrap_err().to_string();
        assert!(err.contains(key), "{key}={bad}: {err}");
    }
    let s = load(&[
        ("hosted_page.public_base_url", "http://127.0.0.1:8080/"),
        ("hosted_page.session_ttl_secs", "30"),
        ("hosted_page.frame_ancestors", "http://localhost:3000"),
    ])
    .unwrap();
    let base = s.hosted_page.public_base_url.unwrap();
    assert_eq!(base.as_str(), "http://127.0.0.1:8080/");
    assert!(!s.hosted_page.frame_ancestors.is_none());
}

#[test]
fn production_requires_an_https_payment_page_and_https_return_urls() {
    let err = production_error("hosted_page.public_base_url", "");
    assert!(err.contains("required in production"), "{err}");
    production_error("hosted_page.public_base_url", "http://pay.partner.example");
    production_error(
        "hosted_page.return_urls",
        "http://app.partner.example/back/",
    );
    production_error("hosted_page.frame_ancestors", "http://app.partner.example");
    production_error("hosted_page.frame_ancestors", "*");
    let mut o = GOOD_PRODUCTION.to_vec();
    o.push((
        "hosted_page.return_urls",
        "https://app.partner.example/back/,partnerapp://checkout",
    ));
    o.push(("hosted_page.frame_ancestors", "https://app.partner.example"));
    assert!(production(&o).is_ok());
}

#[test]
fn the_admin_token_is_kept_without_the_whitespace_around_it() {
    // A Secret made with `kubectl --from-file` ends in a newline; requests send the bare token.
    let s = load(&[("admin.token", "  Zq7vR2mX9pL4sT8wN1bK6yH3jD5fG0cA\n")]).expect("loads");
    let token = s.admin.token.expect("a token");
    assert_eq!(token.expose_secret(), "Zq7vR2mX9pL4sT8wN1bK6yH3jD5fG0cA");
    assert!(
        load(&[("admin.token", " \n")])
            .expect("loads")
            .admin
            .token
            .is_none()
    );
}
