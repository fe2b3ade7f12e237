//! JSON bodies parsed with the failing field's path named in the error.

use serde::de::DeserializeOwned;

use super::problem::ApiError;

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        // "." is the root; "?" is where a syntax error left no path.
        let field = if path == "." || path == "?" {
            "body".to_owned()
        } else {
            mask_keys(&path)
        };
        // serde's message for a wrong type can quote the value: keep only the category.
        let message = match e.inner().classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON".to_owned()
            }
            _ => redact(&e.inner().to_string()),
        };
        ApiError::field(&field, message)
    })
}

/// The path can end in a key the client sent (an unknown field), which could be a card number
/// sent in the wrong place: runs of 4 or more digits outside `[index]` brackets are masked. No
/// field of the API has more than one digit in its name (`line1`).
fn mask_keys(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut run = String::new();
    let mut in_index = false;
    for ch in path.chars().chain(std::iter::once('\0')) {
        if ch.is_ascii_digit() && !in_index {
            run.push(ch);
            continue;
        }
        if run.len() >= 4 {
            out.extend(std::iter::repeat_n('#', run.len()));
        } else {
            out.push_str(&run);
        }
        run.clear();
        match ch {
            '\0' => {}
            '[' => {
                in_index = true;
                out.push(ch);
            }
            ']' => {
                in_index = false;
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// Drop any quoted input from a serde message (it could be a card number in the wrong place).
fn redact(message: &str) -> String {
    let without_position = message.split(" at line ").next().unwrap_or(message);
    let mut out = String::with_capacity(without_position.len());
    let mut quoted = false;
    for ch in without_position.chars() {
        match ch {
            '"' | '`' => {
                quoted = !quoted;
                out.push(ch);
                if quoted {
                    out.push('…');
                }
            }
            _ if quoted => {}
            _ if ch.is_ascii_digit() => out.push('#'),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            mask_keys("tickets[12345].quantity"),
            "tickets[12345].quantity"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        known: Option<u32>,
    }

    #[test]
    fn broken_json_names_the_body() {
        let err = parse_json::<Outer>(b"{").unwrap_err();
        assert_eq!(err.errors[0].field, "body");
    }
}
