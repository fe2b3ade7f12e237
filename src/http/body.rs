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
            path
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
    fn broken_json_names_the_body() {
        let err = parse_json::<Outer>(b"{").unwrap_err();
        assert_eq!(err.errors[0].field, "body");
    }
}
