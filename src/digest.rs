//! Keyed digests (HMAC-SHA256): how the gateway derives values that must not reveal their
//! input — a user's `source_account_id`, an idempotent request's fingerprint — and keys for
//! one use from a configured secret ([`derived_key`]).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// HMAC-SHA256 of `parts` (fed in order) under `key`.
pub fn keyed_digest(key: &SecretString, parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A key for one use, derived from `key` with a fixed `label` (HMAC of the label): one
/// configured secret serves several purposes without any two sharing a key.
pub fn derived_key(key: &SecretString, label: &[u8]) -> SecretString {
    SecretString::from(hex::encode(keyed_digest(key, &[label])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_key_and_input() {
        let a = SecretString::from("a");
        let b = SecretString::from("b");
        assert_eq!(keyed_digest(&a, &[b"x"]), keyed_digest(&a, &[b"x"]));
        assert_ne!(keyed_digest(&a, &[b"x"]), keyed_digest(&b, &[b"x"]));
        assert_ne!(keyed_digest(&a, &[b"x"]), keyed_digest(&a, &[b"y"]));
    }
}
