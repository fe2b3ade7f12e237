//! `production`'s extra rules, on top of every check [`super::validate`] makes: no sandbox, no
//! SQLite, no example app, the issuer and audience of user tokens pinned, the hosted page's
//! origin set, and no weak secret. (Plain http — in `upstream.base_url`, the webhook, the hosted
//! page's origin, return URLs and frame ancestors — is refused where each is read, in
//! `validate`.)
//!
//! # Secrets
//! The secrets the gateway's operator chooses (they key HMACs and signatures only the gateway
//! and the partner's own systems know) must be at least [`MIN_SECRET_BYTES`] long and must not
//! look like a placeholder ([`PLACEHOLDERS`]), besides the shipped dev values
//! ([`DEV_SECRETS`]). Checked: `auth.jwt_hs256_secret` (when set: RS256 alone is fine),
//! `security.source_account_key`, `admin.token` (when set: unset turns the admin API off)
//! and `unredeemed.webhook_secret` (when a webhook is configured).
//!
//! Not checked: `upstream.apikey` and `upstream.client_secret` are issued by Ticketmaster, so
//! their length and shape are theirs, not ours to size (only the sandbox's own apikey is
//! refused); the database password is inside `database.url` and belongs to the database.
//! `auth.jwt_rs256_public_key_pem` is public.

use super::*;

/// The shortest secret production accepts: 256 bits, what HMAC-SHA256 keys with
/// (`openssl rand -hex 32` gives 64 characters).
pub(super) const MIN_SECRET_BYTES: usize = 32;

/// Fragments that mark a value as a placeholder, an example or a development value rather
/// than a generated secret; compared case-insensitively. Kept to fragments that a hex or
/// base64 random value of 32+ bytes contains with negligible probability (hex has no letter
/// past `f`; a given 4-letter word turns up in ~1 of 400,000 random base64 secrets, and then
/// the operator generates another).
pub(super) const PLACEHOLDERS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "replaceme",
    "replace_me",
    "placeholder",
    "example",
    "secret",
    "password",
    "passwd",
    "xxxxxxxx",
    "dev-",
    "dev_",
    "test",
    "dummy",
    "sample",
    "default",
    "insecure",
    "todo",
    "fixme",
    "12345678",
];

pub(super) fn production_rules(
    s: &Settings,
    webhook_secret: Option<&SecretString>,
) -> Result<(), ConfigError> {
    let is_dev = |secret: &SecretString| DEV_SECRETS.contains(&secret.expose_secret());
    if s.auth.jwt_hs256_secret.as_ref().is_some_and(is_dev) {
        return Err(ConfigError::invalid(
            "auth.jwt_hs256_secret",
            "a dev secret in production",
        ));
    }
    if is_dev(&s.source_account_key) {
        return Err(ConfigError::invalid(
            "security.source_account_key",
            "a dev secret in production",
        ));
    }
    if is_dev(&s.upstream.apikey) {
        return Err(ConfigError::invalid(
            "upstream.apikey",
            "the sandbox key in production",
        ));
    }
    let secrets = [
        ("auth.jwt_hs256_secret", s.auth.jwt_hs256_secret.as_ref()),
        ("security.source_account_key", Some(&s.source_account_key)),
        ("admin.token", s.admin.token.as_ref()),
        ("unredeemed.webhook_secret", webhook_secret),
    ];
    for (key, secret) in secrets.into_iter().filter_map(|(k, s)| Some((k, s?))) {
        strong_secret(key, secret)?;
    }
    // Without them, a token that another of the partner's systems (or another environment)
    // signed with the same key would be accepted here.
    if s.auth.jwt_issuer.is_none() {
        return Err(ConfigError::invalid(
            "auth.jwt_issuer",
            "required in production: the `iss` every user token must carry",
        ));
    }
    if s.auth.jwt_audience.is_none() {
        return Err(ConfigError::invalid(
            "auth.jwt_audience",
            "required in production: the `aud` every user token must carry",
        ));
    }
    if s.upstream.target == UpstreamTarget::Sandbox {
        return Err(ConfigError::invalid(
            "upstream.base_url",
            "the sandbox in production",
        ));
    }
    // Its token route hands a signed user token to whoever asks.
    if s.example_app.enabled {
        return Err(ConfigError::invalid(
            "example_app.enabled",
            "the example app in production: it mints user tokens for anyone who asks",
        ));
    }
    // The session links partners hand their users are built on it: a wrong guess (the
    // listener's own address, behind a proxy) would send every user nowhere.
    if s.hosted_page.public_base_url.is_none() {
        return Err(ConfigError::invalid(
            "hosted_page.public_base_url",
            "required in production: the https origin users reach the payment page on",
        ));
    }
    if s.database.url.starts_with("sqlite:") {
        return Err(ConfigError::invalid(
            "database.url",
            "SQLite in production; use postgres://",
        ));
    }
    Ok(())
}

/// Long enough and no placeholder; the error names the key, never the value.
fn strong_secret(key: &str, secret: &SecretString) -> Result<(), ConfigError> {
    let value = secret.expose_secret().trim();
    let lower = value.to_lowercase();
    if let Some(fragment) = PLACEHOLDERS.iter().find(|p| lower.contains(*p)) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "looks like a placeholder (contains `{fragment}`) in production; \
                 generate one, e.g. `openssl rand -hex 32`"
            ),
        ));
    }
    if value.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::invalid(
            key,
            format!(
                "{} bytes is too short for production: at least {MIN_SECRET_BYTES}; \
                 generate one, e.g. `openssl rand -hex 32`",
                value.len()
            ),
        ));
    }
    Ok(())
}
