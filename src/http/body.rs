//! Request bodies: read whole into memory that is wiped when dropped ([`RawBody`]; a
//! payment's holds a card number and CVV), at most [`MAX_BODY_BYTES`], and parsed as JSON
//! with the failing field's path named in the error.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use zeroize::{Zeroize, Zeroizing};

use super::problem::ApiError;
use crate::checkout::error::ErrorCode;

/// The largest body any route takes; a checkout or a payment is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request body, wiped from memory when dropped. Every copy the gateway makes is wiped too:
/// the buffer never reallocates behind our back, and a chunk the server handed over is zeroed
/// when nothing else holds it. In practice something does: actix's chunks share the
/// connection's read buffer, which is out of our reach and reused or freed unwiped (seen in a
/// live process's memory by review) — which is why `serve` runs without core dumps and
/// unreadable by other processes (`startup::hardening`).
pub struct RawBody(Zeroizing<Vec<u8>>);

impl std::ops::Deref for RawBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
                return Err(too_large());
            }
            let mut body = Zeroizing::new(Vec::with_capacity(declared.unwrap_or(1024)));
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|_| ApiError::field("body", "the body could not be read"))?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                append_wiping(&mut body, &chunk);
                if let Ok(mut own) = chunk.try_into_mut() {
                    own[..].zeroize();
                }
            }
            Ok(RawBody(body))
        })
    }
}

/// `chunk` appended to `body`; when it must grow, the old allocation is wiped before it is
/// freed (a plain `extend` would leave a copy of the card behind in freed memory).
fn append_wiping(body: &mut Zeroizing<Vec<u8>>, chunk: &[u8]) {
    let needed = body.len() + chunk.len();
    if needed > body.capacity() {
        let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(body.capacity() * 2)));
        grown.extend_from_slice(body);
        std::mem::swap(body, &mut grown);
        // `grown` now holds the old allocation: dropping it zeroes it.
    }
    body.extend_from_slice(chunk);
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of the API is an object: serde would also read a struct from an array, by
    // position (found by review: `["3F00…", "captcha", [["0000…", 1]]]` created a checkout).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut field = field_path(e.path());
        let message = match e.inner().classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON".to_owned()
            }
            _ => {
                let (child, message) = describe(&e.inner().to_string());
                if let Some(child) = child {
                    field = if field == "body" {
                        child
                    } else {
                        format!("{field}.{child}")
                    };
                }
                message
            }
        };
        ApiError::field(&field, message)
    })
}

/// serde's message for a data error, in words that quote nothing the client sent (a value in
/// the wrong place could be a card number): the field it names when that is one of ours (a
/// missing or repeated field), and what was expected (the API's own types). A message of
/// another shape (the API's own deserialisers' words) keeps its text, with any run of four or
/// more digits masked.
pub(super) fn describe(message: &str) -> (Option<String>, String) {
    let message = message.split(" at line ").next().unwrap_or(message);
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(name) = named("missing field `") {
        return (Some(name), "is required".to_owned());
    }
    if let Some(name) = named("duplicate field `") {
        return (Some(name), "appears more than once".to_owned());
    }
    // The unknown key is the client's, and already the last part of the path (masked).
    if message.starts_with("unknown field `") {
        return (None, "is not a field of this request".to_owned());
    }
    if message.starts_with("unknown variant `") {
        let expected = message.split_once(", expected ").map(|(_, e)| e);
        return (None, expected_words("is not an accepted value", expected));
    }
    for wrong in ["invalid type: ", "invalid value: ", "invalid length "] {
        if message.starts_with(wrong) {
            let expected = message.split_once(", expected ").map(|(_, e)| e);
            return (
                None,
                expected_words("has the wrong type or value", expected),
            );
        }
    }
    (None, mask_digit_runs(message))
}

/// `what`, then what serde expected: the API's own type names (`i64`, `a string`, the
/// variants of an enum), never the client's value.
fn expected_words(what: &str, expected: Option<&str>) -> String {
    match expected {
        Some(expected) => format!("{what}: expected {}", mask_digit_runs(expected)),
        None => what.to_owned(),
    }
}

/// The failing field's path, `tickets[0].quantity` style; `body` for the root or where a
/// syntax error left no path. A key in it may be one the client sent (an unknown field), which
/// could be a card number in the wrong place: in keys, runs of 4 or more digits are masked. No
/// field of the API has more than one digit in its name (`line1`).
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        let name = match segment {
            Segment::Seq { index } => {
                out.push_str(&format!("[{index}]"));
                continue;
            }
            Segment::Map { key } => mask_digit_runs(key),
            Segment::Enum { variant } => mask_digit_runs(variant),
            Segment::Unknown => "?".to_owned(),
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&name);
    }
    if out.is_empty() || out == "?" {
        "body".to_owned()
    } else {
        out
    }
}

fn mask_digit_runs(key: &str) -> String {
    fn flush(out: &mut String, run: &mut String) {
        if run.len() >= 4 {
            out.extend(std::iter::repeat_n('#', run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    }
    let mut out = String::with_capacity(key.len());
    let mut run = String::new();
    for ch in key.chars() {
        if ch.is_ascii_digit() {
            run.push(ch);
        } else {
            flush(&mut out, &mut run);
            out.push(ch);
        }
    }
    flush(&mut out, &mut run);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growing_body_keeps_every_byte_in_order() {
        let mut body = Zeroizing::new(Vec::with_capacity(2));
        for chunk in [&b"ab"[..], b"cde", b"", b"fghijklmnop"] {
            append_wiping(&mut body, chunk);
        }
        assert_eq!(&body[..], b"abcdefghijklmnop");
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn names_the_nested_field_and_hides_values() {
        let err = parse_json::<Outer>(br#"{"inner":{"n":"4588883206000011"}}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "inner.n");
        assert!(
            !err.errors[0].message.contains("4588"),
            "{}",
            err.errors[0].message
        );
    }

    #[test]
    fn a_card_number_sent_as_a_key_is_not_repeated() {
        // Found by the `request_parsers` fuzz target: an unknown field is named in the path.
        let err = parse_json::<Strict>(br#"{"ca4588883206000011": 1}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "ca################");
        let err = parse_json::<Strict>(br#"{"line1": 1}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "line1");
        // A key that looks like an index is still a key.
        let err = parse_json::<Strict>(br#"{"x[4.4444444444444444444": 1}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "x[4.###################");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        known: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Address {
        line1: String,
        country: String,
    }

    fn only_error(body: &[u8]) -> (String, String) {
        let err = parse_json::<Address>(body).unwrap_err();
        assert_eq!(err.errors.len(), 1, "{err:?}");
        (err.errors[0].field.clone(), err.errors[0].message.clone())
    }

    #[test]
    fn a_missing_or_repeated_field_is_named_and_the_message_reads_plainly() {
        assert_eq!(
            only_error(br#"{"line1": "1 Main St"}"#),
            ("country".to_owned(), "is required".to_owned())
        );
        assert_eq!(
            only_error(br#"{"line1": "a", "line1": "b", "country": "US"}"#),
            ("line1".to_owned(), "appears more than once".to_owned())
        );
        let err = parse_json::<Outer>(br#"{"inner": {}}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "inner.n");
        assert_eq!(err.errors[0].message, "is required");
        let err = parse_json::<Strict>(br#"{"colour": 1}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "colour");
        assert_eq!(err.errors[0].message, "is not a field of this request");
    }

    #[test]
    fn a_wrong_type_says_what_was_expected_never_what_came() {
        let err = parse_json::<Outer>(br#"{"inner":{"n":"4588883206000011"}}"#).unwrap_err();
        assert_eq!(
            err.errors[0].message,
            "has the wrong type or value: expected u32"
        );
        let (field, message) = only_error(br#"{"line1": 4588883206000011, "country": "US"}"#);
        assert_eq!(field, "line1");
        assert_eq!(message, "has the wrong type or value: expected a string");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for body in [&br#"[{"n": 1}]"#[..], b" [1]", b"1", br#""x""#] {
            let err = parse_json::<Inner>(body).unwrap_err();
            assert_eq!(err.errors[0].field, "body");
            assert_eq!(err.errors[0].message, "must be a JSON object");
        }
        assert!(parse_json::<Inner>(br#" {"n": 1}"#).is_ok());
    }

    #[test]
    fn broken_json_names_the_body() {
        let err = parse_json::<Outer>(b"{").unwrap_err();
        assert_eq!(err.errors[0].field, "body");
    }
}
