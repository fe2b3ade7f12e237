//! The entry points of the `cargo fuzz` targets in `fuzz/`: each takes arbitrary bytes, runs
//! them through exactly the code that reads what partners send ([`request_parsers`]) or what
//! upstream answers ([`upstream_wire`]), and panics only where that code panics or an invariant
//! breaks. They live here, compiled in every build, so clippy checks them and a unit test
//! replays the recorded fixtures through them; `fuzz/` holds only the thin `fuzz_target!`s.
//!
//! The first byte of an input picks what it is fed to (and, for upstream, the second byte the
//! status), so one corpus covers every parser and mutations move between them.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::checkout::catalog::{EventInfo, EventView, parse_event_id};
use crate::checkout::convert;
use crate::checkout::maintenance::MaintenanceHours;
use crate::http::auth::JwtVerifier;
use crate::http::problem::ApiError;
use crate::http::{client_ip, parse, state, trace_id_of};
use crate::ids::{CheckoutId, OrderId};
use crate::payment_crypto::PaymentEncryptor;
use crate::telemetry::redact::contains_card_number;
use crate::upstream::reply::{extract_site_key, read_final, read_polled};
use crate::upstream::{Deleted, Reply, UpstreamError, wire};

/// What a partner sends: bodies, path ids, and the headers the gateway interprets.
pub fn request_parsers(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(input);
    match selector % 9 {
        0 => {
            if let Err(e) = parse::create_request(input) {
                check_problem(&e);
            }
        }
        1 => match parse::payment_request(input) {
            Ok(payment) => assert!(
                !contains_card_number(&format!("{payment:?}")),
                "a parsed payment's Debug shows a card number"
            ),
            Err(e) => check_problem(&e),
        },
        2 => {
            if let Ok(id) = text.parse::<CheckoutId>() {
                assert_eq!(id.to_string().parse::<CheckoutId>().ok(), Some(id));
            }
            if let Ok(id) = text.parse::<OrderId>() {
                assert_eq!(id.to_string().parse::<OrderId>().ok(), Some(id));
            }
        }
        3 => {
            if let Some(id) = parse_event_id(&text) {
                assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()));
            }
        }
        4 => {
            let _ = state::parse_prefer_wait(&text);
        }
        5 => {
            let trusted = ["10.0.0.0/8".parse().ok(), "::1/128".parse().ok()];
            let trusted: Vec<_> = trusted.into_iter().flatten().collect();
            let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
            let resolved = client_ip::resolve(Some(peer), Some(&text), &trusted);
            assert!(
                resolved.is_some(),
                "a known peer always resolves to a client"
            );
        }
        6 => {
            if let Some(trace) = trace_id_of(&text) {
                assert_eq!(trace.len(), 32);
            }
        }
        8 => hosted_form(input),
        _ => {
            let auth = crate::config::AuthSettings {
                jwt_hs256_secret: Some(SecretString::from("fuzz-secret")),
                jwt_rs256_public_key_pem: None,
                jwt_issuer: Some("fuzz-issuer".into()),
                jwt_audience: Some("fuzz-audience".into()),
            };
            let verifier = JwtVerifier::new(&auth);
            if let Ok(verifier) = verifier
                && let Err(e) = verifier.verify(&text)
            {
                check_problem(&e);
            }
        }
    }
}

/// A form posted to the hosted payment page (`POST /pay/{token}`, urlencoded): parsed and
/// turned into a payment as the page does: a payment's `Debug` and a refusal's problem never
/// show a card number.
fn hosted_form(input: &[u8]) {
    use crate::http::hosted::form::PostedForm;
    match PostedForm::parse(input).into_payment() {
        Ok(payment) => assert!(
            !contains_card_number(&format!("{payment:?}")),
            "a parsed payment's Debug shows a card number"
        ),
        Err(errors) => check_problem(&ApiError::validation(errors)),
    }
}

/// A refusal renders as a 4xx problem+json with a `code`, and never repeats a card number
/// (one may have been sent in any field).
fn check_problem(error: &ApiError) {
    let response = error.error_response();
    assert!(
        response.status().is_client_error(),
        "a parse error answered {}",
        response.status()
    );
    let Ok(bytes) = response.into_body().try_into_bytes() else {
        panic!("a problem body is not in memory");
    };
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("problem is not JSON: {e}"));
    assert!(body["code"].is_string(), "no code in {body}");
    assert!(
        !contains_card_number(&String::from_utf8_lossy(&bytes)),
        "a problem repeats a card number: {body}"
    );
}

/// Statuses upstream answers with, the second byte of an input picking one.
const STATUSES: [u16; 12] = [200, 201, 202, 204, 400, 401, 403, 404, 409, 429, 500, 503];

/// What upstream answers, read as each call reads it, then turned into what the gateway keeps.
pub fn upstream_wire(data: &[u8]) {
    let [selector, status, body @ ..] = data else {
        return;
    };
    let status = STATUSES[usize::from(*status) % STATUSES.len()];
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    match selector % 9 {
        0 => {
            let event = read_final::<wire::EventResponse>(status, body);
            if let Some(info) = settled(status, event).and_then(|e| EventInfo::from_wire(e).ok()) {
                let hours = MaintenanceHours::default();
                let view = EventView::render(&info, now, hours.status(info.timezone, now));
                assert!(serde_json::to_vec(&view).is_ok());
            }
        }
        1 => {
            let _ = settled(status, read_final::<wire::CartSession>(status, body));
        }
        2 | 3 => {
            if let Some(Reply::Done(resp)) =
                settled(status, read_polled::<wire::CartResponse>(status, body))
            {
                let _ = convert::lines(&resp.cart);
                let _ = convert::totals(&resp.cart, "USD");
                assert!(convert::hold_expires_at(&resp.cart, now) >= now);
            }
        }
        4 => {
            if let Some(certificate) =
                settled(status, read_final::<wire::Certificate>(status, body))
            {
                let _ = PaymentEncryptor::from_certificate(&certificate);
            }
        }
        5 => {
            let _ = settled(status, read_polled::<wire::PurchaseResponse>(status, body));
        }
        6 => {
            let _ = settled(status, read_polled::<Deleted>(status, body));
        }
        7 => {
            let _ = settled(status, read_final::<wire::UnredeemedOrders>(status, body));
        }
        _ => {
            let _ = extract_site_key(&String::from_utf8_lossy(body));
        }
    }
}

/// Checks what every reading must hold and gives back a successful one: an error status is
/// never read as a success, a poll's wait is a real duration, and every error can be
/// classified and described.
fn settled<T>(status: u16, read: Result<T, UpstreamError>) -> Option<T> {
    match read {
        Ok(value) => {
            assert!((200..300).contains(&status), "{status} read as a success");
            Some(value)
        }
        Err(e) => {
            let _ = (
                e.kind(),
                e.upstream_code(),
                e.outcome_unknown(),
                e.to_string(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of every file in `dir` (below the crate's root).
    fn files_in(dir: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| std::fs::read(entry.expect("an entry").path()).expect("a file's bytes"))
            .collect()
    }

    /// Every recorded upstream payload, fed to every reader under every status: the seed
    /// corpus `scripts/fuzz` starts from, so the targets cannot rot between fuzzing runs.
    #[test]
    fn recorded_payloads_pass_every_reader() {
        let fixtures = files_in("tests/fixtures/upstream");
        for body in &fixtures {
            for selector in 0..9u8 {
                for status in 0..STATUSES.len() as u8 {
                    let mut input = vec![selector, status];
                    input.extend_from_slice(body);
                    upstream_wire(&input);
                }
            }
        }
        assert!(fixtures.len() >= 20, "only {} fixtures", fixtures.len());
    }

    /// The kept inputs of `fuzz/seeds/request_parsers` (each names its parser by its first
    /// byte), hosted payment forms among them.
    #[test]
    fn request_seeds_pass_their_parsers() {
        let seeds = files_in("fuzz/seeds/request_parsers");
        for input in &seeds {
            request_parsers(input);
        }
        assert!(seeds.len() >= 10, "only {} seeds", seeds.len());
    }

    #[test]
    fn request_examples_pass_every_parser() {
        let examples = [
            serde_json::to_vec(&crate::http::openapi::examples::create_checkout()),
            serde_json::to_vec(&crate::http::openapi::examples::payment()),
        ];
        for example in examples {
            let body = example.expect("example");
            for selector in 0..9u8 {
                let mut input = vec![selector];
                input.extend_from_slice(&body);
                request_parsers(&input);
            }
        }
    }
}
