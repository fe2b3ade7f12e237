//! The `token` command: a development user token the configured gateway accepts. In
//! production, user tokens come from the partner's own identity provider, so a production
//! configuration is refused: a token minted from a shell with the production secret would be
//! valid for any user.

use crate::config::Settings;
use crate::http::auth::{MintError, issue_configured_token};

/// Why the `token` command mints nothing.
#[derive(Debug, thiserror::Error)]
pub enum DevTokenRefused {
    #[error(
        "`token` mints development tokens only and refuses a production configuration \
         (APP_ENV=production): production user tokens come from the partner's identity provider"
    )]
    Production,
    #[error(transparent)]
    Mint(#[from] MintError),
}

/// The `token` command: a token the configured gateway accepts (its HS256 secret, and its
/// `iss`/`aud` when configured), unless the configuration is a production one.
pub fn dev_token(
    settings: &Settings,
    user: &str,
    ttl_secs: i64,
) -> Result<String, DevTokenRefused> {
    if settings.is_production() {
        return Err(DevTokenRefused::Production);
    }
    Ok(issue_configured_token(&settings.auth, user, ttl_secs)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AppEnv, LoadOptions};
    use crate::http::auth::{JwtVerifier, issue_token};

    const ISSUER: &str = "https://id.partner.example/";
    const AUDIENCE: &str = "checkout-gateway";

    fn settings(env: AppEnv, overrides: &[(&str, &str)]) -> Settings {
        let mut opts = LoadOptions::local_with(overrides);
        opts.env = env;
        Settings::load(&opts).expect("settings load")
    }

    #[test]
    fn the_token_command_refuses_a_production_configuration() {
        let production = settings(
            AppEnv::Production,
            &[
                ("auth.jwt_hs256_secret", "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c"),
                ("auth.jwt_issuer", ISSUER),
                ("auth.jwt_audience", AUDIENCE),
                (
                    "security.source_account_key",
                    "1b3d5f7a9c2e4f6a8b0c1d3e5f7a9b2c",
                ),
                ("upstream.apikey", "tm-issued-apikey"),
                (
                    "upstream.base_url",
                    "https://app.ticketmaster.com/partners/v1",
                ),
                ("database.url", "postgres://db/gateway"),
                ("hosted_page.public_base_url", "https://pay.partner.example"),
            ],
        );
        let refused = dev_token(&production, "alice", 60).expect_err("refused");
        assert!(matches!(refused, DevTokenRefused::Production));
        assert!(refused.to_string().contains("production"), "{refused}");
    }

    #[test]
    fn the_token_command_mints_what_the_configured_gateway_accepts() {
        let local = settings(
            AppEnv::Local,
            &[("auth.jwt_issuer", ISSUER), ("auth.jwt_audience", AUDIENCE)],
        );
        let token = dev_token(&local, "dana", 60).expect("minted");
        let v = JwtVerifier::new(&local.auth).expect("verifier");
        assert_eq!(v.verify(&token).expect("accepted").as_str(), "dana");
        // And a token without them is refused by that gateway.
        let secret = local.auth.jwt_hs256_secret.as_ref().expect("dev secret");
        let bare = issue_token(secret, "dana", 60).expect("token");
        assert!(v.verify(&bare).is_err());
    }
}
