//! The problem type pages: `GET /problems` and `GET /problems/{code}` say, for each error
//! `code`, its status, title, when it happens and what the app should do, from the one table
//! of codes ([`ErrorCode::doc`]). HTML for people by default; JSON when `Accept` prefers it.
//! Both listeners serve them.
//!
//! Every problem's `type` is the path of its page, `/problems/{code}`: a relative reference
//! with the full path, which RFC 9457 §3.1.1 allows ("resolved relative to the document's base
//! URI"). A client resolves it against the URL it called, so it resolves to this gateway
//! behind any proxy or host name without an origin in the configuration, and on the admin
//! listener to the admin listener's own copy. An absolute `type` would need a configured
//! public origin and would be wrong wherever the gateway is reached by another name.

use actix_web::http::header::{self, Accept, Header, Quality};
use actix_web::mime;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;

use super::html::escape;
use super::openapi::Routes;
use super::openapi::problems::ProblemTypeProblems;
use super::problem::ApiError;
use crate::checkout::error::{CodeDoc, ErrorCode, SeenAs};

/// Where the pages live: a problem's `type` is this, `/`, and its code.
pub const BASE_PATH: &str = "/problems";

/// The `type` of a problem with `code`: the path of its page.
pub fn type_uri(code: ErrorCode) -> String {
    format!("{BASE_PATH}/{}", code.as_str())
}

pub fn routes(routes: &mut Routes) {
    routes.service(problem_type_index).service(problem_type);
}

/// One problem type, as `Accept: application/json` gets it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ProblemType)]
pub struct ProblemTypeBody {
    /// The `type` problems with this code carry (this page's path).
    #[serde(rename = "type")]
    #[schema(example = "/problems/sold_out", format = "uri-reference")]
    kind: String,
    #[schema(schema_with = super::openapi::problems::code_schema)]
    code: &'static str,
    /// The status of a problem with this code.
    #[schema(example = 409)]
    status: u16,
    /// `problem`: answered as problem+json with `status`; `checkout_error`: only ever a
    /// checkout's `error.code`, in a 202 answer with the checkout.
    #[schema(example = "problem")]
    seen_as: &'static str,
    #[schema(example = "No inventory matches the request")]
    title: &'static str,
    /// When the gateway answers with this code.
    when: &'static str,
    /// What the app should do.
    action: &'static str,
}

impl From<ErrorCode> for ProblemTypeBody {
    fn from(code: ErrorCode) -> Self {
        let doc = code.doc();
        Self {
            kind: type_uri(code),
            code: code.as_str(),
            status: doc.status,
            seen_as: match doc.seen_as {
                SeenAs::Problem => "problem",
                SeenAs::CheckoutError => "checkout_error",
            },
            title: doc.title,
            when: doc.when,
            action: doc.action,
        }
    }
}

/// Every problem type.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ProblemTypeList)]
pub struct ProblemTypeList {
    problem_types: Vec<ProblemTypeBody>,
}

/// Every error code
///
/// The index of the problem type pages: each code with its status and title. HTML unless
/// `Accept` prefers JSON.
#[utoipa::path(
    tag = "platform",
    security(()),
    responses((status = 200, description = "Every problem type", content(
        ("text/html"),
        (ProblemTypeList = "application/json", example = json!({"problem_types": [sold_out_example()]})),
    )))
)]
#[get("/problems")]
async fn problem_type_index(req: HttpRequest) -> HttpResponse {
    match wanted(&req) {
        Wanted::Json => page_response(Wanted::Json).json(ProblemTypeList {
            problem_types: ErrorCode::ALL.map(ProblemTypeBody::from).into(),
        }),
        Wanted::Html => page_response(Wanted::Html).body(index_html()),
    }
}

/// One error code: when it happens and what to do
///
/// The page a problem's `type` resolves to: the code's status, title, when the gateway
/// answers with it and what the app should do. HTML unless `Accept` prefers JSON.
#[utoipa::path(
    tag = "platform",
    security(()),
    params(("code" = String, Path, description = "An error `code`", example = "sold_out")),
    responses(
        (status = 200, description = "The problem type", content(
            ("text/html"),
            (ProblemTypeBody = "application/json", example = json!(sold_out_example())),
        )),
        ProblemTypeProblems,
    )
)]
#[get("/problems/{code}")]
async fn problem_type(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let code = ErrorCode::parse(&path)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such problem type"))?;
    Ok(match wanted(&req) {
        Wanted::Json => page_response(Wanted::Json).json(ProblemTypeBody::from(code)),
        Wanted::Html => page_response(Wanted::Html).body(code_html(code)),
    })
}

fn sold_out_example() -> serde_json::Value {
    serde_json::to_value(ProblemTypeBody::from(ErrorCode::SoldOut)).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Html,
    Json,
}

/// HTML unless the first acceptable type `Accept` ranks is JSON (`application/json`,
/// `application/*`, or a `+json` type such as `application/problem+json`).
fn wanted(req: &HttpRequest) -> Wanted {
    let Ok(accept) = Accept::parse(req) else {
        return Wanted::Html;
    };
    let acceptable = Accept(
        accept
            .0
            .into_iter()
            .filter(|item| item.quality > Quality::ZERO)
            .collect(),
    );
    for mime in acceptable.ranked() {
        let json = mime.type_() == mime::APPLICATION
            && (mime.subtype() == mime::JSON
                || mime.subtype() == mime::STAR
                || mime.suffix() == Some(mime::JSON));
        if json {
            return Wanted::Json;
        }
        if mime.type_() == mime::TEXT || mime.type_() == mime::STAR {
            return Wanted::Html;
        }
    }
    Wanted::Html
}

/// The headers every page carries: static content, per `Accept`, that loads nothing.
fn page_response(wanted: Wanted) -> actix_web::HttpResponseBuilder {
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::VARY, "Accept"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if wanted == Wanted::Html {
        resp.content_type("text/html; charset=utf-8")
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ));
    }
    resp
}

fn index_html() -> String {
    let mut rows = String::new();
    for code in ErrorCode::ALL {
        let doc = code.doc();
        rows.push_str(&format!(
            "<tr><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{}</td></tr>\n",
            type_uri(code),
            code.as_str(),
            status_html(&doc),
            escape(doc.title)
        ));
    }
    page(
        "Error codes",
        &format!(
            "<h1>Error codes</h1>\n<p>Every error answer is <code>application/problem+json</code> \
             (RFC 9457) with a stable <code>code</code>; its <code>type</code> is the path of the \
             code's page here.</p>\n<table>\n<thead><tr><th>code</th><th>status</th><th>title</th>\
             </tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n"
        ),
    )
}

fn code_html(code: ErrorCode) -> String {
    let doc = code.doc();
    page(
        code.as_str(),
        &format!(
            "<p><a href=\"{BASE_PATH}\">All error codes</a></p>\n<h1><code>{code}</code></h1>\n\
             <p>{title}</p>\n<dl>\n<dt>Status</dt><dd>{status}</dd>\n<dt>When</dt><dd>{when}</dd>\n\
             <dt>What the app should do</dt><dd>{action}</dd>\n</dl>\n",
            code = code.as_str(),
            title = escape(doc.title),
            status = status_html(&doc),
            when = inline(doc.when),
            action = inline(doc.action),
        ),
    )
}

fn status_html(doc: &CodeDoc) -> String {
    match doc.seen_as {
        SeenAs::Problem => doc.status.to_string(),
        SeenAs::CheckoutError => {
            "202, as the checkout's <code>error</code> (never a problem answer)".to_owned()
        }
    }
}

fn page(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — checkout-gateway</title>\n</head>\n<body>\n<main>\n{main}</main>\n</body>\n\
         </html>\n",
        escape(title)
    )
}

/// A table text as HTML: escaped, its `` `code spans` `` as `<code>`.
fn inline(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

/// The partner guide's table of codes (`docs/partner-guide.md`), rendered from the same
/// table; a test keeps the guide's copy equal to it.
pub fn guide_table() -> String {
    let mut out = String::from(
        "| code | status | when | what the app should do |\n| --- | --- | --- | --- |\n",
    );
    for code in ErrorCode::ALL {
        let doc = code.doc();
        let status = match doc.seen_as {
            SeenAs::Problem => doc.status.to_string(),
            SeenAs::CheckoutError => "202 (the checkout's `error`)".to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | {status} | {} | {} |\n",
            code.as_str(),
            doc.when,
            doc.action,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn accept_picks_json_only_when_preferred() {
        let wanted = |accept: Option<&str>| {
            let mut req = TestRequest::default();
            if let Some(accept) = accept {
                req = req.insert_header((header::ACCEPT, accept));
            }
            wanted(&req.to_http_request())
        };
        assert_eq!(wanted(None), Wanted::Html);
        assert_eq!(
            wanted(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            Wanted::Html
        );
        assert_eq!(wanted(Some("*/*")), Wanted::Html);
        assert_eq!(wanted(Some("application/json")), Wanted::Json);
        assert_eq!(wanted(Some("application/problem+json")), Wanted::Json);
        assert_eq!(
            wanted(Some("text/html;q=0.5, application/json")),
            Wanted::Json
        );
        assert_eq!(
            wanted(Some("application/json;q=0, text/html")),
            Wanted::Html
        );
        assert_eq!(wanted(Some("garbage")), Wanted::Html);
    }

    #[test]
    fn table_text_is_escaped_and_code_spans_marked_up() {
        assert_eq!(
            inline("a `<b>` & 'c'"),
            "a <code>&lt;b&gt;</code> &amp; &#39;c&#39;"
        );
    }

    #[test]
    fn every_code_has_a_page_with_its_whole_row() {
        for code in ErrorCode::ALL {
            let html = code_html(code);
            let doc = code.doc();
            assert!(html.contains(&inline(doc.when)), "{code:?}");
            assert!(html.contains(&inline(doc.action)), "{code:?}");
            assert!(html.contains(&escape(doc.title)), "{code:?}");
            assert!(index_html().contains(&format!("href=\"{}\"", type_uri(code))));
        }
    }
}
