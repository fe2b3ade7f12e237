//! From the raw layered configuration to [`Settings`]: every value checked, with the key
//! named in the error; production's extra rules are in [`super::production`].

use super::production::production_rules;
use super::*;
use crate::checkout::payment_session::ReturnUrls;
use crate::http::hosted::FrameAncestors;

pub(super) fn validate(env: AppEnv, raw: Raw) -> Result<Settings, ConfigError> {
    let trusted_proxies = raw
        .http
        .trusted_proxies
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::invalid("http.trusted_proxies", format!("`{s}` is not a CIDR"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if raw.http.max_wait_secs > 120 {
        return Err(ConfigError::invalid("http.max_wait_secs", "at most 120"));
    }
    let target = match raw.upstream.base_url.trim() {
        "sandbox" => UpstreamTarget::Sandbox,
        other => {
            let url = Url::parse(other)
                .map_err(|e| ConfigError::invalid("upstream.base_url", e.to_string()))?;
            let allowed =
                url.scheme() == "https" || (url.scheme() == "http" && env == AppEnv::Local);
            if !allowed {
                return Err(ConfigError::invalid(
                    "upstream.base_url",
                    "must be https (plain http only outside production)",
                ));
            }
            UpstreamTarget::Remote(url)
        }
    };
    let rps = raw.upstream.requests_per_second;
    if !(rps.is_finite() && rps >= 1.0) {
        return Err(ConfigError::invalid(
            "upstream.requests_per_second",
            "must be a number ≥ 1",
        ));
    }
    for (key, value) in [
        (
            "upstream.max_waiting_per_user",
            raw.upstream.max_waiting_per_user,
        ),
        (
            "upstream.max_waiting_per_lane",
            raw.upstream.max_waiting_per_lane,
        ),
    ] {
        if !(1..=10_000).contains(&value) {
            return Err(ConfigError::invalid(key, "must be between 1 and 10000"));
        }
    }
    if !(1..=60).contains(&raw.database.acquire_timeout_secs) {
        return Err(ConfigError::invalid(
            "database.acquire_timeout_secs",
            "must be between 1 and 60",
        ));
    }
    if !(1..=3600).contains(&raw.database.statement_timeout_secs) {
        return Err(ConfigError::invalid(
            "database.statement_timeout_secs",
            "must be between 1 and 3600",
        ));
    }
    if raw.database.max_connections == 0 {
        return Err(ConfigError::invalid(
            "database.max_connections",
            "must be > 0",
        ));
    }
    if raw.upstream.timeout_secs == 0 {
        return Err(ConfigError::invalid("upstream.timeout_secs", "must be > 0"));
    }
    if raw.checkout.lease_secs < 2 {
        return Err(ConfigError::invalid("checkout.lease_secs", "must be ≥ 2"));
    }
    if !(30..=86_400).contains(&raw.checkout.unconfirmed_after_secs) {
        return Err(ConfigError::invalid(
            "checkout.unconfirmed_after_secs",
            "between 30 s and 1 day",
        ));
    }
    if !(1..=3600).contains(&raw.checkout.wait_recheck_secs) {
        return Err(ConfigError::invalid(
            "checkout.wait_recheck_secs",
            "between 1 s and 1 hour",
        ));
    }
    if !(60..=7 * 86_400).contains(&raw.idempotency.ttl_secs) {
        return Err(ConfigError::invalid(
            "idempotency.ttl_secs",
            "between 60 s and 7 days",
        ));
    }
    if !(1..=3600).contains(&raw.idempotency.takeover_after_secs) {
        return Err(ConfigError::invalid(
            "idempotency.takeover_after_secs",
            "between 1 s and 1 hour",
        ));
    }
    for (key, hour) in [
        ("maintenance.start_hour", raw.maintenance.start_hour),
        ("maintenance.end_hour", raw.maintenance.end_hour),
    ] {
        if hour > 23 {
            return Err(ConfigError::invalid(key, "an hour of the day, 0–23"));
        }
    }
    if raw.maintenance.start_hour == raw.maintenance.end_hour {
        return Err(ConfigError::invalid(
            "maintenance.end_hour",
            "must differ from start_hour",
        ));
    }
    let a = &raw.admission;
    for (key, rate) in [
        (
            "admission.user_requests_per_second",
            a.user_requests_per_second,
        ),
        ("admission.ip_requests_per_second", a.ip_requests_per_second),
    ] {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ConfigError::invalid(key, "must be a number > 0"));
        }
    }
    for (key, burst) in [
        ("admission.user_burst", a.user_burst),
        ("admission.ip_burst", a.ip_burst),
    ] {
        if burst == 0 {
            return Err(ConfigError::invalid(key, "must be ≥ 1"));
        }
    }
    if raw.sweeper.interval_secs == 0 {
        return Err(ConfigError::invalid("sweeper.interval_secs", "must be > 0"));
    }
    if raw.replica.heartbeat_secs == 0 {
        return Err(ConfigError::invalid(
            "replica.heartbeat_secs",
            "must be > 0",
        ));
    }
    // A replica that misses one heartbeat (a slow statement) must not be taken for dead.
    if raw.replica.dead_after_secs <= 2 * raw.replica.heartbeat_secs {
        return Err(ConfigError::invalid(
            "replica.dead_after_secs",
            "must be more than twice replica.heartbeat_secs",
        ));
    }
    let otlp = raw.log.otlp_endpoint.trim();
    if !otlp.is_empty() {
        Url::parse(otlp).map_err(|e| ConfigError::invalid("log.otlp_endpoint", e.to_string()))?;
    }
    let sandbox = sandbox_settings(&raw.sandbox)?;
    let unredeemed = unredeemed_settings(env, &raw.unredeemed)?;
    let (hosted_page, payment_sessions) = hosted_page_settings(env, &raw.hosted_page)?;
    let rs256 = non_blank(&raw.auth.jwt_rs256_public_key_pem);
    // Kept as configured for production's secret rules: the parsed webhook secret is bytes.
    let webhook_secret = unredeemed
        .webhook
        .is_some()
        .then(|| raw.unredeemed.webhook_secret.clone());
    let settings = Settings {
        env,
        http: HttpSettings {
            listen: raw.http.listen,
            trusted_proxies,
            max_wait_secs: raw.http.max_wait_secs,
        },
        admin: AdminSettings {
            listen: raw.admin.listen,
            // Compared with the trimmed bearer a request sends: a Secret made with
            // `kubectl --from-file` ends in a newline that would lock the admin API out.
            token: non_empty(SecretString::from(
                raw.admin.token.expose_secret().trim().to_owned(),
            )),
        },
        database: raw.database,
        upstream: UpstreamConfig {
            target,
            apikey: raw.upstream.apikey,
            client_secret: non_empty(raw.upstream.client_secret),
            requests_per_second: rps,
            requests_per_minute: raw.upstream.requests_per_minute,
            requests_per_hour: raw.upstream.requests_per_hour,
            requests_per_day: raw.upstream.requests_per_day,
            force_polling: raw.upstream.force_polling,
            timeout_secs: raw.upstream.timeout_secs,
            event_cache_ttl_secs: raw.upstream.event_cache_ttl_secs,
            shares: crate::upstream::Shares {
                per_user: raw.upstream.max_waiting_per_user,
                per_lane: raw.upstream.max_waiting_per_lane,
            },
        },
        auth: AuthSettings {
            jwt_hs256_secret: non_empty(raw.auth.jwt_hs256_secret),
            jwt_rs256_public_key_pem: rs256,
            jwt_issuer: non_blank(&raw.auth.jwt_issuer),
            jwt_audience: non_blank(&raw.auth.jwt_audience),
        },
        source_account_key: raw.security.source_account_key,
        checkout: raw.checkout,
        sweeper: raw.sweeper,
        replica: raw.replica,
        idempotency: raw.idempotency,
        maintenance: raw.maintenance,
        admission: raw.admission,
        unredeemed,
        hosted_page,
        payment_sessions,
        sandbox,
        log: raw.log,
        example_app: raw.example_app,
    };
    if settings.auth.jwt_hs256_secret.is_none() && settings.auth.jwt_rs256_public_key_pem.is_none()
    {
        return Err(ConfigError::invalid(
            "auth.jwt_hs256_secret",
            "set it (or auth.jwt_rs256_public_key_pem): no user token could be verified",
        ));
    }
    if settings.source_account_key.expose_secret().is_empty() {
        return Err(ConfigError::invalid(
            "security.source_account_key",
            "must be set",
        ));
    }
    if env == AppEnv::Production {
        production_rules(&settings, webhook_secret.as_ref())?;
    }
    Ok(settings)
}

fn sandbox_settings(raw: &RawSandbox) -> Result<SandboxSettings, ConfigError> {
    if !(raw.requests_per_second.is_finite() && raw.requests_per_second >= 0.0) {
        return Err(ConfigError::invalid(
            "sandbox.requests_per_second",
            "must be ≥ 0 (0 = no quota)",
        ));
    }
    if !(raw.poll_wait_secs.is_finite() && raw.poll_wait_secs >= 0.0) {
        return Err(ConfigError::invalid(
            "sandbox.poll_wait_secs",
            "must be ≥ 0",
        ));
    }
    let dialect = Dialect::parse(&raw.dialect.items())
        .map_err(|e| ConfigError::invalid("sandbox.dialect", e.to_string()))?;
    Ok(SandboxSettings {
        poll_wait_secs: raw.poll_wait_secs,
        force_polling: raw.force_polling,
        hold_secs: raw.hold_secs,
        requests_per_second: raw.requests_per_second,
        dialect,
    })
}

fn unredeemed_settings(
    env: AppEnv,
    raw: &RawUnredeemed,
) -> Result<UnredeemedSettings, ConfigError> {
    let zone: chrono_tz::Tz = raw.time_zone.trim().parse().map_err(|_| {
        ConfigError::invalid(
            "unredeemed.time_zone",
            "an IANA time zone, e.g. UTC or Europe/Berlin",
        )
    })?;
    let schedule = CronSchedule::parse(&raw.schedule, zone)
        .map_err(|e| ConfigError::invalid("unredeemed.schedule", e.to_string()))?;
    let queries = raw
        .queries
        .split(',')
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| {
            parse_query(q).ok_or_else(|| {
                ConfigError::invalid(
                    "unredeemed.queries",
                    format!("`{q}` is not days_from_purchase=N or days_before_event=N"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if queries.is_empty() {
        return Err(ConfigError::invalid(
            "unredeemed.queries",
            "at least one query",
        ));
    }
    if raw.lease_secs < 2 {
        return Err(ConfigError::invalid("unredeemed.lease_secs", "must be ≥ 2"));
    }
    if raw.webhook_timeout_secs == 0 {
        return Err(ConfigError::invalid(
            "unredeemed.webhook_timeout_secs",
            "must be > 0",
        ));
    }
    if raw.retry_initial_ms == 0 {
        return Err(ConfigError::invalid(
            "unredeemed.retry_initial_ms",
            "must be > 0",
        ));
    }
    let webhook = match raw.webhook_url.trim() {
        "" => None,
        s => {
            let url = Url::parse(s)
                .map_err(|e| ConfigError::invalid("unredeemed.webhook_url", e.to_string()))?;
            let allowed =
                url.scheme() == "https" || (url.scheme() == "http" && env == AppEnv::Local);
            if !allowed {
                return Err(ConfigError::invalid(
                    "unredeemed.webhook_url",
                    "must be https (plain http only outside production)",
                ));
            }
            let secret = WebhookSecret::parse(raw.webhook_secret.expose_secret())
                .map_err(|e| ConfigError::invalid("unredeemed.webhook_secret", e.to_string()))?;
            Some(WebhookTarget {
                url,
                secret,
                timeout: Duration::from_secs(raw.webhook_timeout_secs),
            })
        }
    };
    Ok(UnredeemedSettings {
        enabled: raw.enabled,
        schedule,
        queries,
        lease: Duration::from_secs(raw.lease_secs),
        webhook,
        retry: RetryPolicy {
            initial: Duration::from_millis(raw.retry_initial_ms),
            max: Duration::from_secs(raw.retry_max_secs.max(1)),
            retry_for: Duration::from_secs(raw.retry_for_secs),
        },
    })
}

/// `[hosted_page]`: the page's settings and its sessions'. Plain http (the origin, return
/// URLs, frame ancestors) only outside production; production also requires the origin
/// (`super::production`).
fn hosted_page_settings(
    env: AppEnv,
    raw: &RawHostedPage,
) -> Result<(HostedPageSettings, SessionSettings), ConfigError> {
    let allow_http = env == AppEnv::Local;
    let public_base_url = match raw.public_base_url.trim() {
        "" => None,
        text => Some(
            public_origin(text, allow_http)
                .map_err(|reason| ConfigError::invalid("hosted_page.public_base_url", reason))?,
        ),
    };
    if !(30..=3600).contains(&raw.session_ttl_secs) {
        return Err(ConfigError::invalid(
            "hosted_page.session_ttl_secs",
            "between 30 s and 1 hour",
        ));
    }
    let return_urls = ReturnUrls::parse(&raw.return_urls.items(), allow_http)
        .map_err(|reason| ConfigError::invalid("hosted_page.return_urls", reason))?;
    let frame_ancestors = FrameAncestors::parse(&raw.frame_ancestors.items(), allow_http)
        .map_err(|reason| ConfigError::invalid("hosted_page.frame_ancestors", reason))?;
    Ok((
        HostedPageSettings {
            public_base_url,
            frame_ancestors,
        },
        SessionSettings {
            ttl: Duration::from_secs(raw.session_ttl_secs),
            return_urls,
        },
    ))
}

/// An origin users' browsers reach: http(s), a host, no path, query, fragment or credentials.
fn public_origin(text: &str, allow_http: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| e.to_string())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("must be https (plain http only outside production)".into()),
        _ => return Err("must be an https:// origin".into()),
    }
    let bare = url.host().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !bare {
        return Err("an origin only, like https://pay.partner.example (no path)".into());
    }
    Ok(url)
}

/// The trimmed text, when there is any.
fn non_blank(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|s| !s.is_empty())
}
