//! `/admin/openapi.json`: the admin listener's own OpenAPI 3.1 document lists exactly the
//! routes that listener serves, each guarded as documented (the admin token on `/admin/*`,
//! nothing on `/metrics`, `/healthz`, the problem pages and the document itself), with the
//! problems each answers.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;
use crate::openapi::{
    assert_undocumented_methods_are_not_served, assert_valid_openapi_3_1, is_no_such_route,
    operations, secured, served_document,
};

const ADMIN_TOKEN: &str = "test-admin-token";

/// Every route of the admin listener. They are registered only through
/// `http::openapi::Routes` with their `#[utoipa::path]` (see `http::admin::register`, the only
/// thing that adds routes to that listener), so this list is also what it serves: a route
/// added or removed must change it.
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/problems"),
    ("GET", "/problems/{code}"),
    ("GET", "/admin/openapi.json"),
    ("GET", "/admin/checkouts"),
    ("GET", "/admin/unredeemed-orders"),
    ("POST", "/admin/jobs/unredeemed/run"),
    ("GET", "/admin/webhook-deliveries"),
    ("POST", "/admin/webhook-deliveries/{id}/redrive"),
];

async fn admin_document(app: &TestApp) -> Value {
    // No token: the document is open, like `/metrics`.
    served_document(app, format!("{}/admin/openapi.json", app.admin_address)).await
}

fn concrete(template: &str) -> String {
    template
        .replace("{id}", "msg_00000000000000000000000000000000")
        .replace("{code}", "sold_out")
}

/// The codes of the problem examples an operation documents.
fn documented_codes(op: &Value) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for resp in op["responses"].as_object().unwrap().values() {
        if let Some(examples) = resp["content"]["application/problem+json"]["examples"].as_object()
        {
            codes.extend(examples.keys().cloned());
        }
    }
    codes
}

#[tokio::test]
async fn the_admin_document_is_openapi_3_1_and_lists_exactly_the_admin_listeners_routes() {
    let app = spawn_app_with(&[("admin.token", ADMIN_TOKEN)]).await;
    let doc = admin_document(&app).await;
    assert_valid_openapi_3_1(&doc);
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let expected: BTreeSet<(String, String)> = ADMIN_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_token"]["scheme"],
        "bearer"
    );
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let guarded = path.starts_with("/admin/") && path != "/admin/openapi.json";
        assert_eq!(secured(&doc, op), guarded, "{at}");
        if guarded {
            let security = op.get("security").unwrap_or(&doc["security"]);
            assert_eq!(security, &serde_json::json!([{"admin_token": []}]), "{at}");
            let codes = documented_codes(op);
            for code in ["unauthorized", "not_found", "internal"] {
                assert!(codes.contains(code), "{at} does not document {code}");
            }
        }
        for (status, resp) in op["responses"].as_object().unwrap() {
            assert!(resp["headers"]["X-Request-Id"].is_object(), "{at} {status}");
            if let Some(json) = resp["content"].get("application/json") {
                assert!(json.get("example").is_some(), "{at} {status}: no example");
            }
        }
    }
}

#[tokio::test]
async fn every_admin_route_is_served_and_guarded_as_documented() {
    let app = spawn_app_with(&[("admin.token", ADMIN_TOKEN)]).await;
    let off = spawn_app().await;
    let doc = admin_document(&app).await;
    for (method, template, op) in operations(&doc) {
        let path = concrete(&template);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let request = |app: &TestApp, token: Option<&str>| {
            let req = app
                .client
                .request(method.clone(), format!("{}{path}", app.admin_address));
            match token {
                Some(token) => req.bearer_auth(token),
                None => req,
            }
        };
        if secured(&doc, op) {
            assert_problem(
                request(&app, None).send().await.unwrap(),
                401,
                "unauthorized",
            )
            .await;
            let wrong = request(&app, Some("not-the-token")).send().await.unwrap();
            assert_problem(wrong, 401, "unauthorized").await;
            // The admin API off: as if the route did not exist, whatever the token.
            let resp = request(&off, Some(ADMIN_TOKEN)).send().await.unwrap();
            assert_problem(resp, 404, "not_found").await;
        } else {
            for app in [&app, &off] {
                let resp = request(app, None).send().await.unwrap();
                let (missing, status) = is_no_such_route(resp).await;
                assert!(!missing && status == 200, "{method} {path}: {status}");
            }
        }
        let resp = request(&app, Some(ADMIN_TOKEN)).send().await.unwrap();
        let (missing, status) = is_no_such_route(resp).await;
        assert!(
            !missing,
            "{method} {path} is documented but not served ({status})"
        );
    }
    assert_undocumented_methods_are_not_served(&doc, concrete, |method, path| {
        app.client
            .request(method, format!("{}{path}", app.admin_address))
            .bearer_auth(ADMIN_TOKEN)
    })
    .await;
}

/// Query strings the admin routes cannot read are problems naming the parameter, like the
/// public API's, not plain-text 400s.
#[tokio::test]
async fn unreadable_admin_queries_are_validation_problems() {
    let app = spawn_app_with(&[("admin.token", ADMIN_TOKEN)]).await;
    for path in [
        "/admin/checkouts?limit=many",
        "/admin/checkouts?state=nope",
        "/admin/webhook-deliveries?status=lost",
        "/admin/unredeemed-orders?days_from_purchase=1&days_before_event=3",
    ] {
        let resp = app
            .client
            .get(format!("{}{path}", app.admin_address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let body = assert_problem(resp, 422, "validation_failed").await;
        assert!(body["errors"][0]["field"].is_string(), "{path}: {body}");
    }
}
