//! `/openapi.json` and `/docs`: the document is OpenAPI 3.1, lists exactly the routes the app
//! serves (and the app serves each as documented, token or not), documents every error code and
//! each operation's problems and headers, and the Swagger UI page loads only same-origin files.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use checkout_gateway::checkout::error::ErrorCode;

use crate::helpers::*;

/// Every public API route. Routes are registered only with their `#[utoipa::path]` (see
/// `http::openapi::Routes`), so this list is also what the app serves: a route added or
/// removed must change it. (The hosted payment page, `/pay/…`, is HTML for browsers, outside
/// the document: `tests/api/hosted_page.rs`.)
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/{file}"),
    ("GET", "/v1/events/{event_id}"),
    ("GET", "/v1/captcha"),
    ("POST", "/v1/checkouts"),
    ("GET", "/v1/checkouts/{id}"),
    ("DELETE", "/v1/checkouts/{id}"),
    ("PUT", "/v1/checkouts/{id}/payment"),
    ("POST", "/v1/checkouts/{id}/payment-session"),
    ("POST", "/v1/checkouts/{id}/purchase"),
    ("GET", "/v1/orders"),
    ("GET", "/v1/orders/{order_id}"),
    ("GET", "/problems"),
    ("GET", "/problems/{code}"),
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// Mutating calls that start no upstream work: they answer at once, so they take no
/// `Prefer: wait` and never answer 202.
const IMMEDIATE: &[&str] = &["POST /v1/checkouts/{id}/payment-session"];

/// The document served at `url`, checked to be JSON.
pub(crate) async fn served_document(app: &TestApp, url: String) -> Value {
    let resp = app.client.get(url).send().await.expect("request");
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    resp.json().await.expect("the document is JSON")
}

async fn document(app: &TestApp) -> Value {
    served_document(app, format!("{}/openapi.json", app.address)).await
}

/// A valid OpenAPI 3.1 document: the version, every `$ref` pointing at something in the
/// document, and `openapi-spec-validator` (Python) passing it where it is installed.
pub(crate) fn assert_valid_openapi_3_1(doc: &Value) {
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("a local $ref");
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} points at nothing"
        );
    }
    spec_validator(doc);
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `openapi-spec-validator` on the document, when Python has it; a note otherwise (it is not
/// on every machine, and the checks above stand without it).
fn spec_validator(doc: &Value) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let program = "import json, sys\n\
        try:\n    from openapi_spec_validator import validate\n\
        except ImportError:\n    print('absent'); sys.exit(0)\n\
        validate(json.load(sys.stdin)); print('valid')\n";
    let Ok(mut child) = Command::new("python3")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("python3 not found: openapi-spec-validator not run");
        return;
    };
    let input = serde_json::to_vec(doc).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if said.trim() == "absent" {
        eprintln!("openapi-spec-validator not installed: not run");
    } else {
        assert_eq!(said.trim(), "valid");
    }
}

/// Each (method, path template, operation) of the document.
pub(crate) fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.to_uppercase(), path.clone(), op));
        }
    }
    out
}

/// A concrete path for a template: every `{param}` gets a value that parses where it must.
fn concrete(template: &str) -> String {
    template
        .replace("{event_id}", EVENT)
        .replace("{id}", "chk_00000000000000000000000000000000")
        .replace("{order_id}", "ord_00000000000000000000000000000000")
        .replace("{file}", "index.html")
        .replace("{code}", "sold_out")
}

pub(crate) fn secured(doc: &Value, op: &Value) -> bool {
    let security = op.get("security").unwrap_or(&doc["security"]);
    let requirements = security.as_array().cloned().unwrap_or_default();
    // `{}` among the requirements means no credentials are needed.
    !requirements.is_empty() && requirements.iter().all(|r| r != &serde_json::json!({}))
}

pub(crate) async fn is_no_such_route(resp: reqwest::Response) -> (bool, u16) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status == 404 && body["code"] == "not_found" && body["detail"] == "no such route",
        status,
    )
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_exactly_the_public_routes() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_valid_openapi_3_1(&doc);
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer_jwt"],
        serde_json::json!({
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": doc["components"]["securitySchemes"]["bearer_jwt"]["description"]
        })
    );
}

/// The admin listener's routes are in its own document (`tests/api/admin_openapi.rs`), not in
/// the public one, and the public listener does not serve them.
#[tokio::test]
async fn the_public_document_leaves_the_admin_listener_out() {
    let app = spawn_app_with(&[("admin.token", "test-admin-token")]).await;
    let doc = document(&app).await;
    for (_, path, _) in operations(&doc) {
        assert!(
            !path.starts_with("/admin") && path != "/metrics",
            "{path} is an admin listener route"
        );
    }
    for path in ["/admin/openapi.json", "/admin/checkouts", "/metrics"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth("test-admin-token")
            .send()
            .await
            .unwrap();
        let (missing, status) = is_no_such_route(resp).await;
        assert!(missing, "the public listener serves {path} ({status})");
    }
}

#[tokio::test]
async fn every_documented_route_is_served_and_secured_as_documented() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (method, template, op) in operations(&doc) {
        let path = concrete(&template);
        let url = format!("{}{path}", app.address);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let anonymous = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        if secured(&doc, op) {
            assert_problem(anonymous, 401, "unauthorized").await;
        } else {
            let (missing, status) = is_no_such_route(anonymous).await;
            assert!(!missing && status != 401, "{method} {path}: {status}");
        }
        let authenticated = app
            .request(method.clone(), &path, "openapi-probe")
            .send()
            .await
            .unwrap();
        let (missing, status) = is_no_such_route(authenticated).await;
        assert!(
            !missing,
            "{method} {path} is documented but not served ({status})"
        );
    }
    assert_undocumented_methods_are_not_served(&doc, concrete, |method, path| {
        app.request(method, path, "u")
    })
    .await;
}

/// No method the document leaves out is served on a path it documents; `request` builds a
/// request that passes the listener's guard, for a method and a concrete path.
pub(crate) async fn assert_undocumented_methods_are_not_served(
    doc: &Value,
    concrete: fn(&str) -> String,
    request: impl Fn(Method, &str) -> reqwest::RequestBuilder,
) {
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                continue;
            }
            let path = concrete(template);
            let resp = request(Method::from_bytes(method.as_bytes()).unwrap(), &path)
                .send()
                .await
                .unwrap();
            // A listener that knows its routes' methods says 405 with `Allow` naming exactly
            // the documented ones; one that does not, 404.
            if resp.status() == 405 {
                let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
                let documented: Vec<&str> = METHODS
                    .iter()
                    .copied()
                    .filter(|m| item.get(m.to_lowercase()).is_some())
                    .collect();
                let allowed: Vec<&str> = allow.split(", ").collect();
                assert_eq!(
                    BTreeSet::from_iter(allowed),
                    BTreeSet::from_iter(documented),
                    "{method} {path}: Allow"
                );
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
                continue;
            }
            let (missing, status) = is_no_such_route(resp).await;
            assert!(
                missing,
                "{method} {path} is served ({status}) but not documented"
            );
        }
    }
}

/// Status → the problem codes its examples show.
fn problem_examples(op: &Value) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for (status, resp) in op["responses"].as_object().unwrap() {
        let Some(examples) = resp["content"]["application/problem+json"]["examples"].as_object()
        else {
            continue;
        };
        for (code, example) in examples {
            assert_eq!(example["value"]["code"], code.as_str(), "{example}");
            out.push((status.parse().unwrap(), code.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_error_code_and_every_operations_problems_and_headers_are_documented() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let all_codes: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let problem = &doc["components"]["schemas"]["Problem"];
    let enumerated: BTreeSet<&str> = problem["properties"]["code"]["enum"]
        .as_array()
        .expect("Problem.code is an enum")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(enumerated, all_codes);
    for member in ["type", "title", "status", "detail", "code"] {
        assert!(
            problem["required"]
                .as_array()
                .unwrap()
                .contains(&member.into())
        );
    }
    let field_error = &doc["components"]["schemas"]["FieldError"]["properties"];
    assert!(field_error["field"].is_object() && field_error["message"].is_object());

    let mut shown_codes = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        for (status, resp) in responses {
            assert!(resp["headers"]["X-Request-Id"].is_object(), "{at} {status}");
            let status: u16 = status.parse().unwrap();
            if status >= 400 && path != "/readyz" {
                assert_eq!(
                    resp["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{at} {status}"
                );
            }
            if status == 429 || (status == 503 && path != "/readyz") {
                assert!(resp["headers"]["Retry-After"].is_object(), "{at} {status}");
            }
            if status == 429 {
                assert!(resp["headers"]["RateLimit"].is_object(), "{at}");
            }
            // Every JSON body has an example.
            if let Some(json) = resp["content"].get("application/json") {
                assert!(
                    json.get("example").is_some(),
                    "{at} {status} has no example"
                );
            }
        }
        if let Some(body) = op.get("requestBody") {
            let json = &body["content"]["application/json"];
            assert!(
                json.get("example").is_some(),
                "{at}: request without example"
            );
        }
        let examples = problem_examples(op);
        for (status, code) in &examples {
            let code = ErrorCode::parse(code).expect("a real code");
            assert_eq!(code.status(), *status, "{at}: {code:?} under {status}");
            shown_codes.insert(code.as_str());
        }
        if secured(&doc, op) {
            for code in ["unauthorized", "rate_limited", "internal"] {
                assert!(
                    examples.iter().any(|(_, c)| c == code),
                    "{at} does not document {code}"
                );
            }
        }
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        let mutating = matches!(method.as_str(), "POST" | "PUT" | "DELETE");
        assert_eq!(
            params.contains(&"Idempotency-Key"),
            mutating,
            "{at}: Idempotency-Key on mutating calls only"
        );
        if mutating {
            for (status, resp) in responses {
                assert!(
                    resp["headers"]["Idempotent-Replayed"].is_object(),
                    "{at} {status}"
                );
            }
            let waits = !IMMEDIATE.contains(&at.as_str());
            assert_eq!(params.contains(&"Prefer"), waits, "{at}: Prefer: wait");
            assert_eq!(responses.contains_key("202"), waits, "{at}: a 202 answer");
        }
    }
    // `purchase_unconfirmed` is never a problem, only a checkout's `error` (documented with the
    // checkout's states); `method_not_allowed` answers the methods an operation does not have,
    // which no operation can show (its `/problems` page and the guide document it).
    let problem_codes: BTreeSet<&str> = all_codes
        .iter()
        .copied()
        .filter(|c| {
            ![
                ErrorCode::PurchaseUnconfirmed.as_str(),
                ErrorCode::MethodNotAllowed.as_str(),
            ]
            .contains(c)
        })
        .collect();
    assert_eq!(
        shown_codes, problem_codes,
        "every code has an example somewhere"
    );
    let states = doc["components"]["schemas"]["Checkout"]["properties"]["state"].to_string();
    assert!(states.contains("purchase_unconfirmed"), "{states}");
}

#[tokio::test]
async fn docs_serve_swagger_ui_from_this_origin_only() {
    let app = spawn_app().await;
    for path in ["/docs", "/docs/"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.url().path().ends_with("/docs/"), "{}", resp.url());
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("swagger-ui"), "{html}");
        let assets = referenced_assets(&html);
        assert!(assets.iter().any(|a| a.ends_with(".js")), "{assets:?}");
        for asset in &assets {
            assert!(
                !asset.starts_with("http:")
                    && !asset.starts_with("https:")
                    && !asset.starts_with("//"),
                "{asset} is not same-origin"
            );
            let url = format!("{}/docs/{}", app.address, asset.trim_start_matches("./"));
            let resp = app.client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{url}");
        }
    }
    let initializer = app
        .client
        .get(format!("{}/docs/swagger-initializer.js", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("\"/openapi.json\""), "{initializer}");
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
}

/// The `src` and `href` values in a page.
fn referenced_assets(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out
}
