//! `GET /openapi.json` (the document, serialized once per worker) and Swagger UI at `/docs`,
//! served from the files the `utoipa-swagger-ui` crate vendors: the page loads nothing from
//! another origin.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use utoipa_swagger_ui::Config;

use super::Routes;
use crate::checkout::error::ErrorCode;
use crate::http::problem::ApiError;

/// A listener's OpenAPI document, serialized once, as its `openapi.json` route serves it.
pub struct DocumentJson(String);

impl DocumentJson {
    pub fn new(openapi: &utoipa::openapi::OpenApi) -> Result<Self, serde_json::Error> {
        Ok(Self(serde_json::to_string(openapi)?))
    }

    pub fn response(&self) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(self.0.clone())
    }
}

/// The document as served, and Swagger UI's settings.
pub struct ApiDocument {
    json: DocumentJson,
    swagger: Arc<Config<'static>>,
}

impl ApiDocument {
    pub fn new(openapi: &utoipa::openapi::OpenApi) -> Result<Self, serde_json::Error> {
        let swagger = Config::new(["/openapi.json"])
            // Swagger UI would otherwise send the document to validator.swagger.io.
            .validator_url("none")
            .try_it_out_enabled(true)
            .persist_authorization(true);
        Ok(Self {
            json: DocumentJson::new(openapi)?,
            swagger: Arc::new(swagger),
        })
    }
}

pub fn routes(routes: &mut Routes) {
    routes
        .service(openapi_json)
        .service(docs_root)
        .service(docs_file);
}

/// The OpenAPI 3.1 document of this API
#[utoipa::path(
    tag = "platform",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = Object,
        example = json!({"openapi": "3.1.0", "info": {"title": "checkout-gateway", "version": "0.1.0"}, "paths": {"/healthz": {"get": {}}}})))
)]
#[get("/openapi.json")]
async fn openapi_json(doc: web::Data<ApiDocument>) -> HttpResponse {
    doc.json.response()
}

/// Swagger UI for this document
///
/// Redirects to `/docs/`, so the page's relative links to its scripts resolve under `/docs/`.
#[utoipa::path(
    tag = "platform",
    security(()),
    responses((status = 308, description = "To `/docs/`", headers(("Location" = String, description = "`/docs/`"))))
)]
#[get("/docs")]
async fn docs_root() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// Swagger UI's page and files
///
/// `/docs/` is the page (`text/html`); the other files are its scripts, stylesheets and icons.
#[utoipa::path(
    tag = "platform",
    security(()),
    params(("file" = String, Path, description = "A Swagger UI file; empty for the page", example = "index.html")),
    responses(
        (status = 200, description = "The page or one of its files", content_type = "text/html"),
        (status = 404, description = "`not_found`: no such file", body = crate::http::problem::ProblemBody, content_type = "application/problem+json"),
    )
)]
#[get("/docs/{file:.*}")]
async fn docs_file(
    file: web::Path<String>,
    doc: web::Data<ApiDocument>,
) -> Result<HttpResponse, ApiError> {
    let found = utoipa_swagger_ui::serve(&file, doc.swagger.clone()).map_err(|e| {
        tracing::error!(error = %e, "swagger ui file");
        ApiError::new(ErrorCode::Internal, "internal error")
    })?;
    let file = found.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such file"))?;
    let mut resp = HttpResponse::Ok();
    resp.content_type(file.content_type);
    if file.gzpipped {
        resp.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    Ok(resp.body(file.bytes.into_owned()))
}
