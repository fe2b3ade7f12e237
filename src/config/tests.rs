//! Loading and validation of the settings: defaults, overrides, refusals.

use super::*;

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

#[test]
fn production_refuses_dev_secrets_sqlite_and_the_sandbox() {
    let good = [
        ("auth.jwt_hs256_secret", "a-real-secret-of-some-length"),
        ("security.source_account_key", "another-real-secret"),
        ("upstream.apikey", "real-key"),
        (
            "upstream.base_url",
            "https://app.ticketmaster.com/partners/v1",
        ),
        ("database.url", "postgres://db/gateway"),
    ];
    assert!(production(&good).is_ok());
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
        let mut o = good.to_vec();
        o.retain(|(k, _)| *k != key);
        o.push((key, bad));
        let err = production(&o).unwrap_err().to_string();
        assert!(err.contains(key), "{key}={bad}: {err}");
    }
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
