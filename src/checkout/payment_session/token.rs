//! Session tokens: `ps_` and 32 random bytes in base64url without padding (46 characters).
//! A token is the only credential of the hosted page: whoever holds the link can pay the
//! checkout, so the token is kept in a secret type, shown only to build the link, and stored
//! only as its SHA-256 ([`SessionToken::hash`]). A stored answer that must hold it (an
//! `Idempotency-Key`'s replay) holds it sealed ([`SessionToken::seal`]).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::checkout::model::SessionTokenHash;
use crate::digest::keyed_digest;

const PREFIX: &str = "ps_";
const RANDOM_BYTES: usize = 32;
/// base64 of 32 bytes without padding.
const ENCODED_LEN: usize = 43;
/// Sealed: nonce, the token's bytes masked, and a tag over both.
const NONCE_BYTES: usize = 16;
const TAG_BYTES: usize = 16;

/// A payment session's token. `Debug` shows its prefix only; there is no `Display`.
pub struct SessionToken(SecretString);

impl SessionToken {
    /// A new token from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
        OsRng.fill_bytes(&mut bytes[..]);
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; RANDOM_BYTES]) -> Self {
        let mut text = Zeroizing::new(String::with_capacity(PREFIX.len() + ENCODED_LEN));
        text.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
        Self(SecretString::from(text.as_str()))
    }

    /// A token as it appears in a link: `ps_` and 43 base64url characters. Anything else is
    /// no token (and is never looked up).
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(PREFIX)?;
        let shaped = body.len() == ENCODED_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        // The last character carries 2 unused bits: only the canonical spelling decodes to
        // the same bytes, so one token has exactly one text (and one hash).
        let canonical = shaped && Self::bytes_of(body).is_some();
        canonical.then(|| Self(SecretString::from(text)))
    }

    fn bytes_of(body: &str) -> Option<Zeroizing<[u8; RANDOM_BYTES]>> {
        // Wiped with its whole capacity when dropped.
        let decoded = Zeroizing::new(URL_SAFE_NO_PAD.decode(body).ok()?);
        let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
        if decoded.len() != RANDOM_BYTES {
            return None;
        }
        bytes.copy_from_slice(&decoded);
        Some(bytes)
    }

    /// What the session is stored and found by.
    pub fn hash(&self) -> SessionTokenHash {
        SessionTokenHash::from_digest(&Sha256::digest(self.0.expose_secret().as_bytes()).into())
    }

    /// The token's text, to build the link with. Never log, store or put it in an error.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The token encrypted under `key` for an answer that must be stored (an idempotent
    /// replay), so the store never holds a live token: a random nonce, the token's bytes
    /// masked with HMAC(key, nonce), and a tag (HMAC over both), base64url.
    pub fn seal(&self, key: &SecretString) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let body = &self.0.expose_secret()[PREFIX.len()..];
        let mut masked = Self::bytes_of(body).unwrap_or_default();
        let pad = Zeroizing::new(keyed_digest(key, &[b"payment-session/seal/v1", &nonce]));
        masked.iter_mut().zip(pad.iter()).for_each(|(b, p)| *b ^= p);
        let tag = keyed_digest(key, &[b"payment-session/seal-tag/v1", &nonce, &masked[..]]);
        let mut sealed = Vec::with_capacity(NONCE_BYTES + RANDOM_BYTES + TAG_BYTES);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&masked[..]);
        sealed.extend_from_slice(&tag[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The token [`Self::seal`] sealed under `key`; `None` when `sealed` is not such a value
    /// (another key, altered, or not a sealed token at all).
    pub fn unseal(sealed: &str, key: &SecretString) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() != NONCE_BYTES + RANDOM_BYTES + TAG_BYTES {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_BYTES);
        let (masked, tag) = rest.split_at(RANDOM_BYTES);
        let expected = keyed_digest(key, &[b"payment-session/seal-tag/v1", nonce, masked]);
        if !bool::from(expected[..TAG_BYTES].ct_eq(tag)) {
            return None;
        }
        let pad = Zeroizing::new(keyed_digest(key, &[b"payment-session/seal/v1", nonce]));
        let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
        for ((b, m), p) in bytes.iter_mut().zip(masked).zip(pad.iter()) {
            *b = m ^ p;
        }
        Some(Self::from_bytes(&bytes))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(ps_…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_parse_back() {
        let (a, b) = (SessionToken::generate(), SessionToken::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 46);
        assert!(a.expose().starts_with("ps_"));
        let again = SessionToken::parse(a.expose()).expect("a generated token parses");
        assert_eq!(again.hash(), a.hash());
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "SessionToken(ps_…)");
    }

    #[test]
    fn only_the_canonical_shape_parses() {
        let good = SessionToken::generate();
        let body = &good.expose()[3..];
        for bad in [
            String::new(),
            body.to_owned(),
            format!("pt_{body}"),
            format!("ps_{}", &body[1..]),
            format!("ps_{body}A"),
            format!("ps_{}+", &body[1..]),
            format!("ps_{}/", &body[1..]),
            // The last character's unused bits set: the same bytes, another spelling.
            format!("ps_{}B", &"A".repeat(42)),
        ] {
            assert!(SessionToken::parse(&bad).is_none(), "{bad}");
        }
        assert!(SessionToken::parse(&format!("ps_{}A", "A".repeat(42))).is_some());
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_token_text() {
        let token = SessionToken::parse(&format!("ps_{}A", "A".repeat(42))).unwrap();
        let expected = hex::encode(Sha256::digest(token.expose().as_bytes()));
        assert_eq!(token.hash().as_str(), expected);
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_intact() {
        let key = SecretString::from("seal-key-for-the-test");
        let token = SessionToken::generate();
        let sealed = token.seal(&key);
        assert!(!sealed.contains(&token.expose()[3..]));
        // Sealed twice, two different texts (a fresh nonce each time).
        assert_ne!(sealed, token.seal(&key));
        let opened = SessionToken::unseal(&sealed, &key).expect("opens");
        assert_eq!(opened.expose(), token.expose());
        let other = SecretString::from("another-key");
        assert!(SessionToken::unseal(&sealed, &other).is_none());
        let mut altered = sealed.into_bytes();
        altered[30] = if altered[30] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(SessionToken::unseal(&altered, &key).is_none());
        assert!(SessionToken::unseal("not sealed", &key).is_none());
    }
}
