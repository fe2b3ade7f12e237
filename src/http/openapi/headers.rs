//! Request headers several operations share, as `params(...)` of their `#[utoipa::path]`.

use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

/// The name [`super::finish`] looks for to add `Idempotent-Replayed` to an operation's answers.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// `Idempotency-Key` on mutating calls.
pub struct IdempotencyKey;

impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name(IDEMPOTENCY_KEY)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes the call safe to retry: the first answer is stored (per user, key and \
                     route) and replayed with `Idempotent-Replayed: true`. The same key with a \
                     different request answers `idempotency_key_reused`; a repeat while the first \
                     still runs waits for it (up to `Prefer: wait`), then answers \
                     `idempotency_key_in_use`. A first request whose gateway process died is \
                     taken over by the repeat once its claim has gone unrenewed for \
                     `idempotency.takeover_after_secs` (30 s). Answers where nothing happened \
                     (validation, auth, rate limits) are not stored, so the request can be \
                     corrected and retried under the same key.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some("^[!-~]+$")),
                ))
                .example(Some(serde_json::json!("0b6f8c2e-purchase-1")))
                .build(),
        ]
    }
}

/// `Prefer: wait=N` on calls that may wait for upstream.
pub struct PreferWait;

impl IntoParams for PreferWait {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("Prefer")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "`wait=N`: wait up to N seconds (capped by `http.max_wait_secs`, default 20) \
                     for the checkout to leave its pending state before answering. Mutating \
                     calls wait the cap when this is absent; `GET /v1/checkouts/{id}` does not \
                     wait unless asked. What is still pending then answers 202.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .example(Some(serde_json::json!("wait=10")))
                .build(),
        ]
    }
}
