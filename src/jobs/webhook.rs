//! Sending one webhook message the way Standard Webhooks signs it: headers `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature` = `v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, keyed by the secret's bytes (configured as `whsec_<base64>`).
//! A 2xx answer is delivered; anything else, including a timeout, is a failed attempt.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use url::Url;

use crate::ids::DeliveryId;

/// The signing key: the bytes behind `whsec_<base64>`. Never printed.
pub struct WebhookSecret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl Clone for WebhookSecret {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(self.0.expose_secret().clone())))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a webhook secret is `whsec_` followed by base64 of at least 24 bytes")]
pub struct InvalidSecret;

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, InvalidSecret> {
        let body = text.trim().strip_prefix("whsec_").ok_or(InvalidSecret)?;
        let bytes = STANDARD.decode(body).map_err(|_| InvalidSecret)?;
        if bytes.len() < 24 {
            return Err(InvalidSecret);
        }
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Where and how messages go.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: Url,
    pub secret: WebhookSecret,
    pub timeout: Duration,
}

/// Why an attempt failed (kept as the delivery's `last_error`).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach the receiver: {0}")]
    Transport(String),
}

/// Posts signed messages to one receiver.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    target: WebhookTarget,
    client: reqwest::Client,
}

impl WebhookSender {
    pub fn new(target: WebhookTarget) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(target.timeout)
            // A receiver's redirect is not followed: the signature was made for this URL.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { target, client })
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.target.timeout
    }

    /// One attempt: POST `payload`, signed at `now`.
    pub async fn send(
        &self,
        id: DeliveryId,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        let id = id.to_string();
        let timestamp = now.timestamp();
        let signature = self.target.secret.sign(&id, timestamp, payload);
        let sent = self
            .client
            .post(self.target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload.to_owned())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(SendError::Status(resp.status().as_u16())),
            Err(e) if e.is_timeout() => Err(SendError::Timeout(self.target.timeout)),
            Err(e) => Err(SendError::Transport(transport_reason(e))),
        }
    }
}

/// What went wrong on the way, without the URL (its query may hold the receiver's credentials;
/// found by review in the logs and `last_error`) and with the causes reqwest's own message
/// leaves out (connection refused, TLS, DNS).
fn transport_reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transport_failure_names_its_cause_never_the_url() {
        // A port nothing listens on: refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let e = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/hook?token=QSECRET12345"))
            .send()
            .await
            .expect_err("refused");
        let reason = transport_reason(e);
        assert!(!reason.contains("QSECRET12345"), "{reason}");
        assert!(!reason.contains("/hook"), "{reason}");
        assert!(reason.to_lowercase().contains("refused"), "{reason}");
    }

    #[test]
    fn signs_like_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_need_the_prefix_and_enough_bytes() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
    }
}
