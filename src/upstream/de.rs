//! A tolerant reader for upstream's JSON: the deserialisers the wire types use so that an
//! answer shaped a little differently from the docs' examples still reads.
//!
//! The docs show numbers sometimes as JSON numbers (`hold_time: 299`) and sometimes as strings
//! (`"expires_in": "3599"`), and say nothing of fields that are missing or null. So:
//! - [`num`] / [`opt_num`]: a number, or a string holding one (and the reverse for [`text`]);
//! - [`lenient`]: an optional part the gateway can do without; anything unreadable or null
//!   becomes `None` instead of failing the whole answer;
//! - [`lenient_vec`]: a list whose unreadable elements are skipped;
//! - [`text`]: a string, also from a number or null (null becomes empty).
//!
//! Serialisation is untouched: the sandbox writes the docs' shapes with the derived `Serialize`.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A number, or a string holding one (`299` or `"299"`); `T` parses from either's text.
pub fn num<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    match Value::deserialize(d)? {
        Value::Number(n) => parse_number(&n.to_string()),
        Value::String(s) => parse_number(s.trim()),
        other => Err(D::Error::custom(format!(
            "expected a number, found {}",
            kind(&other)
        ))),
    }
}

/// As [`num`], for a field with a default: null (or empty text) is the default, as missing is.
pub fn num_or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Default,
    T::Err: Display,
{
    opt_num(d).map(Option::unwrap_or_default)
}

/// A part the gateway can do with a default of: the default when null or unreadable.
pub fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    lenient(d).map(Option::unwrap_or_default)
}

/// As [`num`], optional: missing, null or empty text is `None`.
pub fn opt_num<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::Number(n) => parse_number(&n.to_string()).map(Some),
        Value::String(s) => parse_number(s.trim()).map(Some),
        other => Err(D::Error::custom(format!(
            "expected a number, found {}",
            kind(&other)
        ))),
    }
}

/// A string, also when sent as a number or a boolean; null is empty.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(D::Error::custom(format!(
            "expected a string, found {}",
            kind(&other)
        ))),
    }
}

/// An identifier: a non-empty string, also when sent as a number; null or empty fails.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(D::Error::custom(format!(
            "expected an identifier, found {}",
            kind(&other)
        ))),
    }
}

/// A boolean, also as the strings `"true"`/`"false"` or the numbers 1/0; null is false.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(false),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        other => Err(D::Error::custom(format!(
            "expected a boolean, found {}",
            kind(&other)
        ))),
    }
}

/// A part the gateway can do without: `None` when missing, null or unreadable.
pub fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// A list whose unreadable elements are left out; a missing, null or non-list value is empty.
pub fn lenient_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Array(items) => Ok(items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect()),
        _ => Ok(Vec::new()),
    }
}

fn parse_number<T, E>(s: &str) -> Result<T, E>
where
    T: FromStr,
    T::Err: Display,
    E: serde::de::Error,
{
    // `3599.0` is a whole number too: integers are also read from a float's text.
    s.parse::<T>()
        .or_else(|first| match s.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.is_finite() => format!("{f:.0}").parse::<T>(),
            _ => Err(first),
        })
        .map_err(|e| E::custom(format!("not a number ({e})")))
}

/// The JSON kind of a value, for error messages: never the value itself, which came from
/// upstream and is not for logs.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "super::num")]
        n: u64,
        #[serde(default, deserialize_with = "super::opt_num")]
        maybe: Option<f64>,
        #[serde(default, deserialize_with = "super::text")]
        s: String,
        #[serde(default, deserialize_with = "super::lenient")]
        part: Option<Part>,
        #[serde(default, deserialize_with = "super::lenient_vec")]
        parts: Vec<Part>,
        #[serde(default, deserialize_with = "super::flag")]
        b: bool,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Part {
        id: u32,
    }

    fn read(json: &str) -> Result<Sample, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        assert_eq!(read(r#"{"n": 3599}"#).unwrap().n, 3599);
        assert_eq!(read(r#"{"n": "3599"}"#).unwrap().n, 3599);
        assert_eq!(read(r#"{"n": " 3599 "}"#).unwrap().n, 3599);
        assert_eq!(read(r#"{"n": 3599.0}"#).unwrap().n, 3599);
        assert_eq!(
            read(r#"{"n": 1, "maybe": "57.39"}"#).unwrap().maybe,
            Some(57.39)
        );
        assert_eq!(read(r#"{"n": 1, "maybe": null}"#).unwrap().maybe, None);
        assert!(read(r#"{"n": "soon"}"#).is_err());
        assert!(read(r#"{"n": 1.5}"#).is_err());
    }

    #[test]
    fn strings_and_flags_come_in_other_shapes() {
        let s = read(r#"{"n": 1, "s": 7, "b": "true"}"#).unwrap();
        assert_eq!(s.s, "7");
        assert!(s.b);
        assert_eq!(read(r#"{"n": 1, "s": null}"#).unwrap().s, "");
    }

    #[test]
    fn optional_parts_never_break_the_whole() {
        let s = read(r#"{"n": 1, "part": {"id": "x"}, "parts": [{"id": 1}, "junk", {"id": 2}]}"#)
            .unwrap();
        assert_eq!(s.part, None);
        assert_eq!(s.parts, vec![Part { id: 1 }, Part { id: 2 }]);
        assert!(read(r#"{"n": 1, "parts": null}"#).unwrap().parts.is_empty());
    }

    #[test]
    fn errors_name_the_kind_never_the_value() {
        let e = read(r#"{"n": {"secret": "4588883206000011"}}"#).unwrap_err();
        assert!(!e.to_string().contains("4588"), "{e}");
    }
}
