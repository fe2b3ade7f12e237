//! The last line of defence between the process and its log sink: every formatted log line
//! passes through [`redact`] before it is written. Secrets are kept out of logs by
//! construction (secret types, operation names instead of URLs); this catches whatever a
//! dependency or a future change lets through:
//! - card numbers: runs of 13–19 digits that pass the Luhn check;
//! - JWTs (`eyJ….….…`) and `Bearer …` credentials;
//! - payment-session tokens (`ps_` and 43 base64url characters: a hosted payment page's link);
//! - the values registered with [`register_secret`] (apikey, OAuth client secret and tokens,
//!   signing keys, the admin token).

use std::sync::{LazyLock, RwLock};

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

/// Whether [`redact`] might change `line`, without allocating, for the lines (nearly all, the
/// access log's among them) that hold nothing to mask. Never false when [`redact`] would mask
/// something; true for a few lines it leaves alone (`eyJ` that starts no JWT, `Bearer ` with
/// nothing after it).
///
/// Each kind is looked for with a search that does not branch on every byte: the loop that
/// did (a table of the bytes a secret can start with, then a look at each) cost 1.1 µs an
/// access line, most of it mispredicted branches over the random hex of ids; the searches
/// below, 0.35 µs with six registered secrets.
pub fn needs_redaction(line: &[u8]) -> bool {
    static JWT: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(JWT_START));
    // A card number needs 13 digits in a row: only a line with such a run has its runs judged.
    (has_card_length_digit_run(line) && line.split(|b| !b.is_ascii_digit()).any(is_card_number))
        || JWT.find(line).is_some()
        || memchr::memmem::find_iter(line, SESSION_TOKEN_PREFIX)
            .any(|at| is_session_token(&line[at..]))
        || memchr::memchr2_iter(b'b', b'B', line).any(|at| {
            line[at..]
                .get(..BEARER.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(BEARER))
        })
        || SECRETS
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|secret| secret.finder.find(line).is_some())
}

/// How a JWT starts (`{"` in base64url).
const JWT_START: &[u8] = b"eyJ";

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
    std::str::from_utf8(run).is_ok_and(crate::card::is_card_number)
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
/// masked as a card number (a value made to be logged, a request id, avoids them). Eight bytes
/// at a time, a bit per byte, 64 bytes to a mask: a run of 13 is 13 set bits in a row (within
/// a mask, or carried over from the end of the one before).
pub fn has_card_length_digit_run(bytes: &[u8]) -> bool {
    let mut carried = 0;
    for block in bytes.chunks(64) {
        let mut words = block.chunks_exact(8);
        let mut digits = 0u64;
        let mut at = 0;
        for word in &mut words {
            let mut eight = [0; 8];
            eight.copy_from_slice(word);
            digits |= digit_bits(eight) << at;
            at += 8;
        }
        for (i, b) in words.remainder().iter().enumerate() {
            digits |= u64::from(b.is_ascii_digit()) << (at + i);
        }
        if carried + digits.trailing_ones() as usize >= CARD_MIN_DIGITS {
            return true;
        }
        // Bit i of `run` is set when bits i to i + 12 all are (13 = 1 + 1 + 2 + 4 + 5).
        let mut run = digits;
        for shift in [1, 2, 4, 5] {
            run &= run >> shift;
        }
        if run != 0 {
            return true;
        }
        let len = block.len();
        let tail = (digits << (64 - len)).leading_ones() as usize;
        carried = if tail == len { carried + len } else { tail };
    }
    false
}

/// Bit k set when byte k of `word` is an ASCII digit, found for all eight at once: a byte's
/// top bit, set first so that no subtraction borrows from the next byte, survives `- '0'` when
/// the byte is at least `0`, and `- ':'` only when it is past `9`.
fn digit_bits(word: [u8; 8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOP: u64 = ONES * 0x80;
    let x = u64::from_le_bytes(word);
    let at_least_zero = (x | TOP).wrapping_sub(ONES * u64::from(b'0'));
    let past_nine = (x | TOP).wrapping_sub(ONES * u64::from(b':'));
    let digit_tops = at_least_zero & !past_nine & !x & TOP;
    // Gathers the eight top bits (moved to the bottom of each byte) into the low byte.
    (digit_tops >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// The fewest digits a card number has.
const CARD_MIN_DIGITS: usize = crate::card::NUMBER_DIGITS.start;

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
            if is_card_number(run.as_bytes()) {
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
    fn digit_runs_are_found_as_a_scan_of_each_byte_finds_them() {
        // xorshift: the same strings every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let len = (next() % 200) as usize;
            // Mostly digits, so that long runs, and runs across 8- and 64-byte blocks, are
            // common; any byte at all now and then.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 6 {
                    0 => b'a',
                    1 => next() as u8,
                    _ => b'0' + (next() % 10) as u8,
                })
                .collect();
            let simple = bytes
                .split(|b| !b.is_ascii_digit())
                .any(|run| run.len() >= CARD_MIN_DIGITS);
            assert_eq!(has_card_length_digit_run(&bytes), simple, "{bytes:?}");
        }
        for (at, len) in [
            (0, 13),
            (51, 13),
            (60, 13),
            (64, 13),
            (0, 12),
            (58, 12),
            (0, 130),
        ] {
            let mut bytes = vec![b'x'; 200];
            bytes[at..at + len].fill(b'7');
            assert_eq!(has_card_length_digit_run(&bytes), len >= 13, "{at} {len}");
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
