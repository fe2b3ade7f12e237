//! What the sandbox answers: a plain [`Reply`] value (status, body, extra headers) that the
//! logic produces without touching actix, so it can be stored for later delivery through a
//! poll and unit-tested; plus every error body the sandbox sends, in one place, with the docs'
//! messages and codes.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

use crate::upstream::wire::{self, codes};

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(serde_json::Value),
    Html(String),
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
}

/// Logic returns `Err(reply)` for every refusal, so `?` reads naturally.
pub type Outcome<T> = Result<T, Reply>;

impl Reply {
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        match serde_json::to_value(body) {
            Ok(v) => Self {
                status,
                body: Body::Json(v),
                headers: Vec::new(),
            },
            Err(e) => {
                tracing::error!(error = %e, "sandbox could not serialise a reply");
                error(500, 500, "Internal error occurred")
            }
        }
    }

    pub fn ok(body: &impl Serialize) -> Self {
        Self::json(200, body)
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            body: Body::Empty,
            headers: Vec::new(),
        }
    }

    pub fn html(html: String) -> Self {
        Self {
            status: 200,
            body: Body::Html(html),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The reply with its JSON body changed by `reshape`; other bodies are left as they are.
    pub fn map_json(mut self, reshape: impl FnOnce(&mut serde_json::Value)) -> Self {
        if let Body::Json(v) = &mut self.body {
            reshape(v);
        }
        self
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        for (name, value) in &self.headers {
            builder.insert_header((*name, value.as_str()));
        }
        match self.body {
            Body::Json(v) => builder.json(v),
            Body::Html(h) => builder.content_type("text/html; charset=utf-8").body(h),
            Body::Empty => builder.finish(),
        }
    }
}

/// `{"error": {message, code, http_code, severity}}` as the docs show for most errors.
pub fn error(http: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        http,
        &wire::ErrorBody {
            error: wire::ErrorDetail {
                message: message.into(),
                code,
                http_code: Some(http),
                severity: Some("ERROR".into()),
            },
        },
    )
}

/// `{"fault": {...}}`: the API gateway's own refusals (apikey, token, quota).
pub fn fault(http: u16, faultstring: &str, errorcode: &str) -> Reply {
    Reply::json(
        http,
        &wire::FaultBody {
            fault: wire::Fault {
                faultstring: faultstring.into(),
                detail: wire::FaultDetail {
                    errorcode: errorcode.into(),
                },
            },
        },
    )
}

pub fn invalid_api_key() -> Reply {
    fault(401, "Invalid ApiKey", codes::FAULT_INVALID_API_KEY)
}

pub fn invalid_access_token() -> Reply {
    fault(
        401,
        "Invalid access token",
        codes::FAULT_INVALID_ACCESS_TOKEN,
    )
}

pub fn quota_violation() -> Reply {
    fault(
        429,
        "Rate limit quota violation. Quota limit exceeded.",
        codes::FAULT_QUOTA_VIOLATION,
    )
}

/// 10002 with the docs' message, or a more specific one where the sandbox knows better.
pub fn invalid_input(message: &str) -> Reply {
    error(400, codes::INVALID_INPUT, message)
}

pub fn invalid_input_data_type() -> Reply {
    invalid_input("Invalid input data type")
}

pub fn invalid_structure() -> Reply {
    error(
        400,
        codes::INVALID_RESERVE_STRUCTURE,
        "Invalid reserve request data structure",
    )
}

pub fn not_transactable() -> Reply {
    error(
        403,
        codes::NOT_TRANSACTABLE,
        "Event is not API transactable",
    )
}

/// The docs show this one without `http_code`/`severity`; the sandbox answers it the same way.
pub fn no_inventory() -> Reply {
    Reply::json(
        400,
        &wire::ErrorBody {
            error: wire::ErrorDetail {
                message: "No inventory found to match request".into(),
                code: codes::NO_INVENTORY,
                http_code: None,
                severity: None,
            },
        },
    )
}

pub fn captcha_missing() -> Reply {
    error(
        401,
        codes::UNAUTHORIZED_CAPTCHA_MISSING,
        "Unauthorized Access",
    )
}

pub fn captcha_invalid() -> Reply {
    error(400, codes::INVALID_CAPTCHA, "Invalid captcha solution.")
}

pub fn payment_not_accepted() -> Reply {
    error(400, codes::PAYMENT_NOT_ACCEPTED, "Payment Not Accepted")
}

pub fn invalid_security_code() -> Reply {
    error(
        400,
        codes::INVALID_SECURITY_CODE,
        "Please enter a valid security code.",
    )
}

pub fn cart_not_found() -> Reply {
    error(404, codes::INVALID_INPUT, "Cart not found or expired")
}

pub fn concurrent_update() -> Reply {
    error(409, 409, "Concurrent cart update")
}

pub fn maintenance() -> Reply {
    error(503, 503, "Service is unavailable")
}

pub fn not_found(message: &str) -> Reply {
    error(404, 404, message)
}

/// Parses a JSON body into a wire request. Not JSON at all, or a field of the wrong type, is
/// 10002 "Invalid input data type"; valid JSON of the wrong shape (missing fields) is answered
/// with `wrong_structure` (21001 where the docs/FAQ name it).
pub fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    wrong_structure: fn() -> Reply,
) -> Outcome<T> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| invalid_input_data_type())?;
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        if message.starts_with("invalid type") || message.starts_with("invalid value") {
            invalid_input_data_type()
        } else {
            wrong_structure()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_the_docs_shape() {
        let Body::Json(v) = captcha_invalid().body else {
            panic!("json expected")
        };
        assert_eq!(
            v,
            serde_json::json!({"error": {"message": "Invalid captcha solution.", "code": 10031,
                "http_code": 400, "severity": "ERROR"}})
        );
        let Body::Json(v) = no_inventory().body else {
            panic!("json expected")
        };
        assert!(v["error"].get("http_code").is_none());
        assert_eq!(concurrent_update().status, 409);
    }

    #[test]
    fn bodies_are_classified() {
        let parse = |b: &str| parse_body::<wire::PurchaseRequest>(b.as_bytes(), invalid_structure);
        assert!(parse(r#"{"cart_id":"a","source_account_id":"b"}"#).is_ok());
        let code = |r: Outcome<wire::PurchaseRequest>| match r.unwrap_err().body {
            Body::Json(v) => v["error"]["code"].as_i64(),
            _ => None,
        };
        assert_eq!(code(parse("not json")), Some(10002));
        assert_eq!(
            code(parse(r#"{"cart_id":1,"source_account_id":"b"}"#)),
            Some(10002)
        );
        assert_eq!(code(parse(r#"{"cart_id":"a"}"#)), Some(21001));
    }
}
