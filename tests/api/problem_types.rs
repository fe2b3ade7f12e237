//! Problem `type`s resolve: every problem's `type` is `/problems/{code}`, which, resolved
//! against the URL that answered (RFC 9457 §3.1.1), is a page of that same listener saying
//! what the code means and what to do, as the code table says; `/problems` lists them all.

use serde_json::{Value, json};
use url::Url;

use checkout_gateway::checkout::error::{ErrorCode, SeenAs};

use crate::helpers::*;

const ADMIN_TOKEN: &str = "test-admin-token";

/// The page `problem.type` names, resolved against `answered` (the URL that gave the problem).
async fn resolve(
    app: &TestApp,
    answered: &str,
    problem: &Value,
    accept: &str,
) -> reqwest::Response {
    let kind = problem["type"].as_str().expect("a type");
    assert_eq!(
        kind,
        format!("/problems/{}", problem["code"].as_str().unwrap())
    );
    let url = Url::parse(answered).unwrap().join(kind).unwrap();
    app.client
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .unwrap()
}

fn expected(code: ErrorCode) -> Value {
    let doc = code.doc();
    json!({
        "type": format!("/problems/{}", code.as_str()),
        "code": code.as_str(),
        "status": doc.status,
        "seen_as": match doc.seen_as {
            SeenAs::Problem => "problem",
            SeenAs::CheckoutError => "checkout_error",
        },
        "title": doc.title,
        "when": doc.when,
        "action": doc.action,
    })
}

#[tokio::test]
async fn every_code_has_a_page_in_html_and_json() {
    let app = spawn_app().await;
    for code in ErrorCode::ALL {
        let url = format!("{}/problems/{}", app.address, code.as_str());
        let html = app.client.get(&url).send().await.unwrap();
        assert_eq!(html.status(), 200, "{url}");
        let content_type = html.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let csp = html.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        let page = html.text().await.unwrap();
        assert!(page.contains(&format!("<h1><code>{}</code></h1>", code.as_str())));
        assert!(
            page.contains(&format!("<dd>{}", code.doc().status))
                || code.doc().seen_as == SeenAs::CheckoutError
        );

        let json = app
            .client
            .get(&url)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(json.status(), 200);
        assert_eq!(json.headers()["vary"], "Accept");
        assert_eq!(json.json::<Value>().await.unwrap(), expected(code));
    }
    let index: Value = app
        .client
        .get(format!("{}/problems", app.address))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<Value> = ErrorCode::ALL.into_iter().map(expected).collect();
    assert_eq!(index["problem_types"], json!(listed));

    let unknown = app
        .client
        .get(format!("{}/problems/no_such_code", app.address))
        .send()
        .await
        .unwrap();
    let body = assert_problem(unknown, 404, "not_found").await;
    assert_eq!(body["type"], "/problems/not_found");
}

#[tokio::test]
async fn a_problems_type_resolves_to_its_page_on_the_listener_that_answered() {
    let app = spawn_app_with(&[("admin.token", ADMIN_TOKEN)]).await;
    // The public listener: a request without a token, and one for a checkout that is not there.
    let cases = [
        (format!("{}/v1/orders", app.address), None, 401),
        (
            format!(
                "{}/v1/checkouts/chk_00000000000000000000000000000000",
                app.address
            ),
            Some("alice"),
            404,
        ),
        // The admin listener, without its token.
        (format!("{}/admin/checkouts", app.admin_address), None, 401),
    ];
    for (url, user, status) in cases {
        let mut req = app.client.get(&url);
        if let Some(user) = user {
            req = req.bearer_auth(token_for(user));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), status, "{url}");
        let problem: Value = resp.json().await.unwrap();
        let page = resolve(&app, &url, &problem, "application/json").await;
        assert_eq!(page.status(), 200, "{url}: {problem}");
        assert_eq!(page.url().origin(), Url::parse(&url).unwrap().origin());
        let described: Value = page.json().await.unwrap();
        assert_eq!(described["code"], problem["code"]);
        assert_eq!(described["title"], problem["title"]);
        assert_eq!(described["status"], problem["status"]);
        let html = resolve(&app, &url, &problem, "text/html").await;
        assert!(
            html.text()
                .await
                .unwrap()
                .contains("What the app should do")
        );
    }
}
