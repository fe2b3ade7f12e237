//! Identifiers the sandbox hands out: cart ids, access tokens, polling ids and order tokens.
//!
//! Cart ids always contain `+`, `/` and `=`, like the docs' example, so that a client which
//! forgets to url-encode them fails against the sandbox instead of in production.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::rand_core::{OsRng, RngCore};

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Base64 of 3 fixed bytes (which encode as `+/+/`) and 28 random bytes; 31 bytes is not a
/// multiple of 3, so the text ends in `=`.
pub fn cart_id() -> String {
    let mut bytes = vec![0xfb, 0xff, 0xbf];
    bytes.extend_from_slice(&random_bytes::<28>());
    STANDARD.encode(bytes)
}

/// Alphanumeric text of `len` characters.
pub fn alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>() {
            // Rejection sampling keeps the distribution uniform (248 = 4 * 62).
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    out
}

/// Like the docs' `00000001080E06000000006BB7C4A8C0`: a sequence number and a random part.
pub fn polling_id(seq: u64) -> String {
    format!("{seq:016X}{:016X}", u64::from_be_bytes(random_bytes::<8>()))
}

pub fn order_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_ids_need_url_encoding() {
        let id = cart_id();
        assert!(
            id.contains('+') && id.contains('/') && id.ends_with('='),
            "{id}"
        );
        assert_ne!(id, cart_id());
    }

    #[test]
    fn alphanumeric_has_the_length_asked() {
        let t = alphanumeric(28);
        assert_eq!(t.len(), 28);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
