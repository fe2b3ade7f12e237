//! Token verification: what is refused (no `exp`, expired, not yet valid, wrong issuer or
//! audience, `alg: none`, HS256 signed with the RS256 public key), what is accepted, the
//! remembered-token cache.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;

/// A key pair made for these tests only (tests/fixtures/auth/README.md).
const RS256_PUBLIC: &str = include_str!("../../../tests/fixtures/auth/rs256-public.pem");
const RS256_PRIVATE: &str = include_str!("../../../tests/fixtures/auth/rs256-private.pem");
const HS256: &str = "unit-test-hs256-key-unit-test-hs256-key";
const ISSUER: &str = "https://id.partner.example/";
const AUDIENCE: &str = "checkout-gateway";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn auth(hs256: bool, rs256: bool, pinned: bool) -> AuthSettings {
    AuthSettings {
        jwt_hs256_secret: hs256.then(|| SecretString::from(HS256)),
        jwt_rs256_public_key_pem: rs256.then(|| RS256_PUBLIC.to_owned()),
        jwt_issuer: pinned.then(|| ISSUER.to_owned()),
        jwt_audience: pinned.then(|| AUDIENCE.to_owned()),
    }
}

/// HS256 and RS256, issuer and audience configured.
fn pinned() -> JwtVerifier {
    JwtVerifier::new(&auth(true, true, true)).expect("verifier")
}

/// Claims a pinned verifier accepts, valid for ten minutes.
fn good_claims() -> Value {
    json!({"sub": "alice", "exp": now() + 600, "iat": now(), "iss": ISSUER, "aud": AUDIENCE})
}

fn hs256(claims: &Value) -> String {
    sign_hs256(claims, HS256.as_bytes())
}

fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("signs")
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RS256_PRIVATE.as_bytes()).expect("test private key");
    encode(&Header::new(Algorithm::RS256), claims, &key).expect("signs")
}

/// `good_claims()` with `key` set to `value` (or removed when `value` is null).
fn claims_with(key: &str, value: Value) -> Value {
    let mut claims = good_claims();
    let map = claims.as_object_mut().expect("an object");
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_owned(), value);
    }
    claims
}

#[track_caller]
fn assert_refused(v: &JwtVerifier, token: &str, detail: &str) {
    let Err(e) = v.verify(token) else {
        panic!("accepted a token that should be refused ({detail})");
    };
    assert_eq!(e.code, crate::checkout::error::ErrorCode::Unauthorized);
    assert!(
        e.detail.contains(detail),
        "expected `{detail}` in {}",
        e.detail
    );
    assert!(
        !v.is_remembered(token),
        "a refused token is never remembered"
    );
}

#[test]
fn a_valid_token_with_the_right_issuer_and_audience_is_accepted_on_both_algorithms() {
    let v = pinned();
    for token in [hs256(&good_claims()), rs256(&good_claims())] {
        assert_eq!(v.verify(&token).expect("accepted").as_str(), "alice");
        assert!(v.is_remembered(&token));
    }
    // `aud` may be a list (RFC 7519 §4.1.3): one of them is ours.
    let listed = claims_with("aud", json!(["other-api", AUDIENCE]));
    assert!(v.verify(&hs256(&listed)).is_ok());
}

#[test]
fn alg_none_is_refused() {
    let v = pinned();
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None", "typ": "JWT"}),
    ] {
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!("{}.{}.", encode(&header), encode(&good_claims()));
        assert!(v.verify(&unsigned).is_err(), "{header}");
        assert!(!v.is_remembered(&unsigned));
    }
}

#[test]
fn hs256_signed_with_the_rs256_public_key_is_refused() {
    // The classic confusion attack: the public key is public, so anyone can HMAC with it.
    let forged = sign_hs256(&good_claims(), RS256_PUBLIC.as_bytes());
    let rs256_only = JwtVerifier::new(&auth(false, true, true)).expect("verifier");
    assert_refused(&rs256_only, &forged, "algorithm is not accepted");
    // With an HS256 secret configured too, the forgery still fails that secret's signature.
    assert_refused(&pinned(), &forged, "invalid");
    // The same claims, honestly signed, pass: the refusal is the key's, not the claims'.
    assert!(rs256_only.verify(&rs256(&good_claims())).is_ok());
}

#[test]
fn a_token_without_exp_is_refused() {
    let v = pinned();
    assert_refused(
        &v,
        &hs256(&claims_with("exp", Value::Null)),
        "no `exp` claim",
    );
    assert_refused(
        &v,
        &rs256(&claims_with("exp", Value::Null)),
        "no `exp` claim",
    );
}

#[test]
fn an_expired_token_is_refused_past_the_leeway() {
    let v = pinned();
    let leeway = LEEWAY_SECS as i64;
    let expired = hs256(&claims_with("exp", json!(now() - leeway - 5)));
    assert_refused(&v, &expired, "expired");
    // Within the leeway, clock skew is forgiven.
    let skewed = hs256(&claims_with("exp", json!(now() - leeway / 3)));
    assert!(v.verify(&skewed).is_ok());
}

#[test]
fn a_token_not_valid_yet_is_refused_past_the_leeway() {
    let v = pinned();
    let leeway = LEEWAY_SECS as i64;
    let early = hs256(&claims_with("nbf", json!(now() + leeway + 60)));
    assert_refused(&v, &early, "not valid yet");
    for nbf in [now() + leeway / 3, now() - 60] {
        let token = hs256(&claims_with("nbf", json!(nbf)));
        assert!(v.verify(&token).is_ok(), "nbf {nbf}");
    }
}

#[test]
fn a_token_for_another_audience_or_none_is_refused() {
    let v = pinned();
    let other = hs256(&claims_with("aud", json!("another-api")));
    assert_refused(&v, &other, "another audience");
    let listed = hs256(&claims_with("aud", json!(["another-api", "a-third"])));
    assert_refused(&v, &listed, "another audience");
    let missing = hs256(&claims_with("aud", Value::Null));
    assert_refused(&v, &missing, "no `aud` claim");
}

#[test]
fn a_token_from_another_issuer_or_none_is_refused() {
    let v = pinned();
    let other = rs256(&claims_with("iss", json!("https://evil.example/")));
    assert_refused(&v, &other, "issuer is not accepted");
    let missing = hs256(&claims_with("iss", Value::Null));
    assert_refused(&v, &missing, "no `iss` claim");
}

#[test]
fn without_a_configured_issuer_and_audience_neither_is_checked() {
    // Local development: `token` mints without them, and tokens carrying them still pass.
    let v = JwtVerifier::new(&auth(true, false, false)).expect("verifier");
    let bare = issue_token(&SecretString::from(HS256), "bob", 60).expect("token");
    assert_eq!(v.verify(&bare).expect("accepted").as_str(), "bob");
    assert!(v.verify(&hs256(&good_claims())).is_ok());
    // exp stays required and checked.
    assert!(v.verify(&hs256(&claims_with("exp", Value::Null))).is_err());
}

#[test]
fn a_verified_token_is_remembered_and_a_changed_one_is_not() {
    let v = pinned();
    let token = hs256(&good_claims());
    assert_eq!(v.verify(&token).unwrap().as_str(), "alice");
    assert!(v.is_remembered(&token));
    // One character inside the signature changed: verified in full, and refused.
    let at = token.len() - 5;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    assert!(v.verify(&tampered).is_err());
    assert!(!v.is_remembered(&tampered));
}

#[test]
fn a_remembered_token_is_honoured_only_until_it_expires() {
    let v = pinned();
    let now = now();
    v.remember("remembered", "bob", now + 60);
    assert_eq!(v.verify("remembered").unwrap().as_str(), "bob");
    // Within the leeway after exp: still accepted, as full verification would.
    v.remember("in-leeway", "bob", now - 10);
    assert!(v.verify("in-leeway").is_ok());
    // Past exp and leeway: verified in full again (and this string is no JWT at all).
    v.remember("expired", "bob", now - LEEWAY_SECS as i64 - 5);
    assert!(v.verify("expired").is_err());
}

#[test]
fn the_remembered_tokens_are_bounded() {
    let v = pinned();
    let exp = now() + 600;
    for i in 0..10_500 {
        v.remember(&format!("token-{i}"), "carol", exp);
    }
    assert!(v.remembered_count() <= 10_000, "{}", v.remembered_count());
}
