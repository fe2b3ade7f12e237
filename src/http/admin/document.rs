//! The admin listener's OpenAPI document: its fixed parts (info, tags, the admin token's
//! bearer scheme) and `GET /admin/openapi.json`, which serves it without the admin token —
//! like `/metrics`, it is for whoever may reach the admin listener, and it holds no data, only
//! what the routes take and answer.

use actix_web::{HttpResponse, get, web};
use utoipa::openapi::OpenApi;
use utoipa::{Modify, OpenApi as _};

use crate::http::openapi::docs::DocumentJson;
use crate::http::openapi::{Routes, bearer_scheme};

/// The name of the admin token's security scheme.
pub const ADMIN_TOKEN: &str = "admin_token";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "checkout-gateway admin",
        description = "The admin listener (`admin.listen`), for operators and monitoring only: \
restrict who can reach it. Every `/admin/*` operation but this document wants \
`Authorization: Bearer <admin.token>` (missing or wrong: 401 `unauthorized`); with no \
`admin.token` configured the admin API is off and those operations answer 404 `not_found`. \
`/metrics`, `/healthz`, `/problems` and `/admin/openapi.json` need no token. Errors are RFC 9457 \
`application/problem+json` with a stable `code`, as on the public listener. Every response \
carries `X-Request-Id`."
    ),
    components(schemas(crate::http::problem::ProblemBody)),
    modifiers(&AdminTokenScheme),
    security(("admin_token" = [])),
    tags(
        (name = "checkouts", description = "Checkouts of every user"),
        (name = "jobs", description = "The unredeemed-orders job"),
        (name = "webhooks", description = "Webhook messages and their dead letters"),
        (name = "platform", description = "Metrics, liveness, error codes and this document (no token)"),
    )
)]
struct BaseDocument;

struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_TOKEN,
            bearer_scheme(
                None,
                "The configured `admin.token` (`APP__ADMIN__TOKEN`), compared in constant time.",
            ),
        );
    }
}

/// The document's parts that no handler contributes.
pub fn base() -> OpenApi {
    BaseDocument::openapi()
}

pub fn routes(routes: &mut Routes) {
    routes.service(admin_openapi_json);
}

/// The OpenAPI 3.1 document of the admin listener
#[utoipa::path(
    tag = "platform",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = Object,
        example = json!({"openapi": "3.1.0", "info": {"title": "checkout-gateway admin", "version": "0.1.0"}, "paths": {"/admin/checkouts": {"get": {}}}})))
)]
#[get("/admin/openapi.json")]
async fn admin_openapi_json(doc: web::Data<DocumentJson>) -> HttpResponse {
    doc.response()
}
