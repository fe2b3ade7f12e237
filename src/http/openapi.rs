//! The OpenAPI 3.1 document of the public API, generated from the handlers as they are
//! registered: a handler is added to the app only through [`Routes::service`], which takes
//! nothing without a `#[utoipa::path]`, so a route cannot go undocumented.
//!
//! # Layout
//! - this file: the document's fixed parts (info, tags, the bearer JWT scheme, shared schemas),
//!   [`Routes`], and [`finish`], which adds the headers every answer carries.
//! - [`problems`]: problem+json responses per operation, with the `code` enum.
//! - [`headers`]: `Idempotency-Key` and `Prefer`.
//! - [`examples`]: request and response bodies shown in the document.
//! - [`docs`]: `GET /openapi.json` and Swagger UI at `/docs`.

pub mod docs;
pub mod examples;
pub mod headers;
pub mod problems;

use actix_web::dev::HttpServiceFactory;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::{Modify, OpenApi as _};
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::service_config::ServiceConfig;

/// The name of the security scheme every authenticated operation uses.
pub const BEARER: &str = "bearer_jwt";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "checkout-gateway",
        description = "Sell Ticketmaster tickets through five plain calls: read an event, create a \
checkout (reserve), pay, purchase, release. Every call but `/healthz`, `/readyz`, `/openapi.json` \
and `/docs` carries `Authorization: Bearer <JWT>` (`sub` is the partner's user id, `exp` is \
required); a checkout or order of another user answers 404. Errors are RFC 9457 \
`application/problem+json` with a stable `code`. Every response carries `X-Request-Id`."
    ),
    components(schemas(crate::http::problem::ProblemBody)),
    modifiers(&BearerScheme),
    security(("bearer_jwt" = [])),
    tags(
        (name = "events", description = "Events and the captcha a checkout needs"),
        (name = "checkouts", description = "Reserve, pay, purchase, release"),
        (name = "orders", description = "The user's purchased orders"),
        (name = "platform", description = "Health and this documentation (no token)"),
    )
)]
struct BaseDocument;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            bearer_scheme(
                Some("JWT"),
                "A partner user token: HS256 (or RS256) JWT whose `sub` is the user id; `exp` \
                 is required.",
            ),
        );
    }
}

/// The whole document, as `/openapi.json` serves it.
pub fn document() -> OpenApi {
    super::register(actix_web::App::new()).1
}

/// The document's parts that no handler contributes.
pub fn base() -> OpenApi {
    BaseDocument::openapi()
}

/// What an actix `App` of either listener is built on.
pub trait AppService:
    actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Error = actix_web::Error,
        InitError = (),
    >
{
}

impl<T> AppService for T where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >
{
}

/// Adds the routes `configure` registers (through [`Routes`]) to `app`, and returns it with
/// the document they make on top of `base`, finished by [`finish`]. Each listener's
/// `register` is this with its own base document and routes.
pub fn register<T: AppService>(
    app: actix_web::App<T>,
    base: OpenApi,
    configure: fn(&mut ServiceConfig),
) -> (actix_web::App<T>, OpenApi) {
    use utoipa_actix_web::AppExt;
    let (app, document) = app
        .into_utoipa_app()
        .openapi(base)
        .configure(configure)
        .split_for_parts();
    (app, finish(document))
}

/// A bearer-token security scheme, for a listener's base document.
pub fn bearer_scheme(format: Option<&str>, description: &str) -> SecurityScheme {
    let mut builder = HttpBuilder::new().scheme(HttpAuthScheme::Bearer);
    if let Some(format) = format {
        builder = builder.bearer_format(format);
    }
    let mut scheme = builder.build();
    scheme.description = Some(description.into());
    SecurityScheme::Http(scheme)
}

/// Where the public routes are registered. Only documented handlers fit: `service` takes an
/// actix handler that also carries its `#[utoipa::path]`, and there is no `route`.
pub struct Routes<'a, 's>(&'a mut ServiceConfig<'s>);

impl<'a, 's> Routes<'a, 's> {
    pub fn new(cfg: &'a mut ServiceConfig<'s>) -> Self {
        Self(cfg)
    }

    pub fn service<F>(&mut self, handler: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static,
    {
        self.0.service(handler);
        self
    }
}

/// Adds what every answer carries: `X-Request-Id` on all, and `Idempotent-Replayed` on the
/// answers of operations that take an `Idempotency-Key` (stored answers, problems included,
/// are replayed).
pub fn finish(mut openapi: OpenApi) -> OpenApi {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            add_response_headers(operation);
        }
    }
    openapi
}

fn add_response_headers(operation: &mut Operation) {
    let idempotent = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.name == headers::IDEMPOTENCY_KEY));
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        response.headers.insert(
            "X-Request-Id".into(),
            RefOr::T(header(
                "The caller's `X-Request-Id` when it is sane, else a new one; also in the logs.",
            )),
        );
        if idempotent {
            response.headers.insert(
                "Idempotent-Replayed".into(),
                RefOr::T(header(
                    "`true` when this is the stored answer to an earlier request with the same \
                     `Idempotency-Key`; absent otherwise.",
                )),
            );
        }
    }
}

fn header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}
