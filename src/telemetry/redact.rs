//! The last line of defence between the process and its log sink: every formatted log line
//! passes through [`redact`] before it is written. Secrets are kept out of logs by
//! construction (secret types, operation names instead of URLs); this catches whatever a
//! dependency or a future change lets through:
//! - card numbers: runs of 13–19 digits that pass the Luhn check;
//! - JWTs (`eyJ….….…`) and `Bearer …` credentials;
//! - payment-session tokens (`ps_` and 43 base64url characters: a hosted payment page's link);
//! - the values registered with [`register_secret`] (apikey, OAuth client secret and tokens,
//!   signing keys, the admin token).

use std::sync::RwLock;

use crate::card::luhn_valid;

const MASK: &str = "[REDACTED]";
/// Tokens rotate (hourly for OAuth): the newest are kept, the list stays bounded.
const MAX_SECRETS: usize = 64;
/// Shorter values would redact ordinary words.
const MIN_SECRET_LEN: usize = 8;

/// A registered value and its searcher, built once: each line is searched for every secret,
/// and a scan per secret for its first byte, then a compare at each hit, cost 1.7 µs a line
/// with six registered (most of the redaction check); `memmem`'s vectorised search, 0.16 µs.
struct Secret {
    text: String,
    finder: memchr::memmem::Finder<'static>,
}

static SECRETS: RwLock<Vec<Secret>> = RwLock::new(Vec::new());

/// Redact `value` from every log line from now on.
pub fn register_secret(value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if secrets.iter().any(|s| s.text == value) {
        return;
    }
    if secrets.len() == MAX_SECRETS {
        secrets.remove(0);
    }
    secrets.push(Secret {
        text: value.to_owned(),
        finder: memchr::memmem::Finder::new(value.as_bytes()).into_owned(),
    });
}

/// Whether [`redact`] might change `line`: one pass over its bytes, and no allocation, for
/// the lines (nearly all, the access log's among them) that hold nothing to mask. Never false
/// when [`redact`] would mask something; true for a few lines it leaves alone (`eyJ` that
/// starts no JWT, `Bearer ` with nothing after it).
pub fn needs_redaction(line: &[u8]) -> bool {
    // Card numbers, JWTs and `Bearer` credentials in one pass that stops only at the bytes
    // one of them can start with (a table look-up for the rest, most of a line).
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        if !STARTS[usize::from(b)] {
            i += 1;
            continue;
        }
        let rest = &line[i..];
        if b.is_ascii_digit() {
            let run = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if is_card_number(&rest[..run]) {
                return true;
            }
            i += run;
            continue;
        }
        let suspect = if b == b'e' {
            rest.starts_with(b"eyJ")
        } else if b == b'p' {
            is_session_token(rest)
        } else {
            rest.get(..BEARER.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(BEARER))
        };
        if suspect {
            return true;
        }
        i += 1;
    }
    SECRETS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|secret| secret.finder.find(line).is_some())
}

/// The bytes a card number (a digit), a JWT (`e`), a session token (`p`) or a `Bearer`
/// credential (`b`, `B`) starts with.
const STARTS: [bool; 256] = {
    let mut table = [false; 256];
    let mut digit = b'0';
    while digit <= b'9' {
        table[digit as usize] = true;
        digit += 1;
    }
    table[b'e' as usize] = true;
    table[b'p' as usize] = true;
    table[b'b' as usize] = true;
    table[b'B' as usize] = true;
    table
};

const BEARER: &[u8] = b"bearer ";

const SESSION_TOKEN_PREFIX: &[u8] = b"ps_";
/// The characters after the prefix (32 bytes in base64url without padding).
const SESSION_TOKEN_BODY: usize = 43;

/// Whether `bytes` starts with a payment-session token.
fn is_session_token(bytes: &[u8]) -> bool {
    bytes.starts_with(SESSION_TOKEN_PREFIX)
        && bytes.len() >= SESSION_TOKEN_PREFIX.len() + SESSION_TOKEN_BODY
        && bytes[SESSION_TOKEN_PREFIX.len()..][..SESSION_TOKEN_BODY]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// A Luhn-valid run of 13–19 digits, as [`mask_card_numbers`] finds them.
fn is_card_number(run: &[u8]) -> bool {
    (CARD_MIN_DIGITS..=19).contains(&run.len()) && std::str::from_utf8(run).is_ok_and(luhn_valid)
}

/// `line` with every secret it contains masked.
pub fn redact(line: &str) -> String {
    let mut out = mask_session_tokens(&mask_bearer(&mask_jwts(&mask_card_numbers(line))));
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    for secret in secrets.iter() {
        if out.contains(secret.text.as_str()) {
            out = out.replace(secret.text.as_str(), MASK);
        }
    }
    out
}

/// Whether `bytes` has a run of at least 13 decimal digits: the length from which a run may be
/// masked as a card number (a value made to be logged, a request id, avoids them).
pub fn has_card_length_digit_run(bytes: &[u8]) -> bool {
    bytes
        .split(|b| !b.is_ascii_digit())
        .any(|run| run.len() >= CARD_MIN_DIGITS)
}

/// The fewest digits a card number has.
const CARD_MIN_DIGITS: usize = 13;

/// Whether `text` holds what the redactor would mask as a card number (a Luhn-valid run of
/// 13–19 digits).
pub fn contains_card_number(text: &str) -> bool {
    mask_card_numbers(text) != text
}

fn mask_card_numbers(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let run = &line[start..i];
            if (CARD_MIN_DIGITS..=19).contains(&run.len()) && luhn_valid(run) {
                out.push_str(MASK);
            } else {
                out.push_str(run);
            }
        } else {
            let ch_len = line[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&line[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='
}

/// `eyJ` + three base64url segments.
fn mask_jwts(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("eyJ") {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        let bytes = candidate.as_bytes();
        let (mut end, mut dots) = (0, 0);
        while end < bytes.len() && (is_b64url(bytes[end]) || (bytes[end] == b'.' && dots < 2)) {
            dots += usize::from(bytes[end] == b'.');
            end += 1;
        }
        if dots == 2 {
            out.push_str(MASK);
        } else {
            out.push_str(&candidate[..end]);
        }
        rest = &candidate[end.max(3)..];
        if end < 3 {
            out.push_str(&candidate[end..3]);
        }
    }
    out.push_str(rest);
    out
}

/// `ps_` and the 43 characters after it.
fn mask_session_tokens(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("ps_") {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        if is_session_token(candidate.as_bytes()) {
            out.push_str(MASK);
            rest = &candidate[SESSION_TOKEN_PREFIX.len() + SESSION_TOKEN_BODY..];
        } else {
            out.push_str("ps_");
            rest = &candidate[SESSION_TOKEN_PREFIX.len()..];
        }
    }
    out.push_str(rest);
    out
}

/// The credential after `Bearer ` (any case).
fn mask_bearer(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let mut out = String::with_capacity(line.len());
    let mut from = 0;
    while let Some(pos) = lower[from..].find("bearer ") {
        let start = from + pos + "bearer ".len();
        let end = line[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .map_or(line.len(), |n| start + n);
        out.push_str(&line[from..start]);
        if end > start {
            out.push_str(MASK);
        }
        from = end;
    }
    out.push_str(&line[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_masked_other_numbers_kept() {
        let line = "pan=4588883206000011 order=1234567890123 ts=1700000000000";
        let out = redact(line);
        assert!(!out.contains("4588883206000011"), "{out}");
        // Not Luhn-valid, or too short: ids and timestamps stay readable.
        assert!(out.contains("ts=1700000000000"), "{out}");
        assert!(out.contains("order=1234567890123"), "{out}");
    }

    #[test]
    fn jwts_and_bearer_credentials_are_masked() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
        let out = redact(&format!(r#"{{"token":"{jwt}","h":"Bearer abc.def-ghi"}}"#));
        assert!(!out.contains(jwt), "{out}");
        assert!(!out.contains("abc.def-ghi"), "{out}");
        assert!(out.contains(r#""h":"Bearer [REDACTED]""#), "{out}");
        assert_eq!(redact("eyJ alone"), "eyJ alone");
    }

    #[test]
    fn payment_session_tokens_are_masked() {
        let token = "ps_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY";
        let out = redact(&format!(r#"{{"path":"/pay/{token}","x":"ps_short"}}"#));
        assert_eq!(out, r#"{"path":"/pay/[REDACTED]","x":"ps_short"}"#);
    }

    #[test]
    fn lines_are_left_alone_exactly_when_nothing_would_be_masked() {
        register_secret("apikey-registered-for-the-fast-path");
        for line in [
            r#"{"target":"access","latency_ms":0.8234560000000001,"status":200}"#,
            "pan=4588883206000011",
            "h=BEARER abc",
            "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl",
            "url=https://x/?apikey=apikey-registered-for-the-fast-path",
            "order=1234567890123 plain words",
            // At the very start or end of a line.
            "4588883206000011",
            "apikey-registered-for-the-fast-path is here",
            "x Bearer tok",
            "12345678901234567890 4588883206000012",
            "/pay/ps_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY",
            "ps_ alone, and maps_ and ps_BwgJ",
            "",
        ] {
            assert_eq!(
                needs_redaction(line.as_bytes()),
                redact(line) != line,
                "{line}"
            );
        }
    }

    #[test]
    fn registered_secrets_are_masked() {
        register_secret("apikey-registered-in-a-test");
        register_secret("short");
        let out = redact("url=https://x/?apikey=apikey-registered-in-a-test short");
        assert_eq!(out, "url=https://x/?apikey=[REDACTED] short");
    }
}
