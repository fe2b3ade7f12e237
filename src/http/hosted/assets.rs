//! The page's stylesheet and script, first-party and compiled in (`templates/pay.css`,
//! `templates/pay.js`): no third-party script or font, nothing fetched from elsewhere.

use actix_web::{HttpResponse, web};

const CSS: &str = include_str!("templates/pay.css");
const JS: &str = include_str!("templates/pay.js");

/// `GET /pay/assets/{file}`.
pub async fn asset(file: web::Path<String>) -> HttpResponse {
    match file.as_str() {
        "pay.css" => HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .body(CSS),
        "pay.js" => HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .body(JS),
        _ => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file"),
    }
}
