//! The page's handlers. `GET /pay/{token}` shows the form, or why the link no longer takes a
//! payment. `POST /pay/{token}` checks the CSRF token, parses the form, and pays through the
//! checkout service exactly as `PUT /v1/checkouts/{id}/payment` does (same use case, the
//! session's user as requester, the browser's address as `True-Client-IP`, the configured
//! longest wait), then sends the user back to the partner with `303 See Other`, or shows the
//! form again with the problem (the API's `code` on `#errors`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::csrf;
use super::form::{BillingFields, FIELDS, PostedForm, label_of};
use super::headers::csp;
use super::render::{self, FieldState, Html, Value, fill};
use crate::checkout::error::{CheckoutError, ErrorCode};
use crate::checkout::model::Checkout;
use crate::checkout::payment::{PayableFrom, PaymentAttempt};
use crate::checkout::payment_session::{
    EndReason, OpenSession, Outcome, SessionError, SessionToken,
};
use crate::checkout::service::Requester;
use crate::checkout::state::CheckoutState;
use crate::http::admission::Refused;
use crate::http::body::RawBody;
use crate::http::client_ip::client_addr;
use crate::http::problem::{ApiError, ProblemCode};
use crate::http::state::AppState;

/// The summary `#errors` when there is nothing to say yet (the script fills it in).
const NO_ERRORS: &str =
    r#"<div id="errors" class="errors" role="alert" tabindex="-1" hidden></div>"#;
/// The way back on a page that ends the visit.
const BACK_LINK: &str = r#"<p><a class="back" id="back" href="{{href}}">{{text}}</a></p>"#;

/// `GET /pay/{token}`.
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    if let Err(refused) = state
        .admission
        .admit_address(client_addr(&req, &state.trusted_proxies))
    {
        return too_many_requests(&state, refused);
    }
    let Some(token) = SessionToken::parse(&token) else {
        return ended_page(&state, SessionError::Unknown);
    };
    match state.service.open_payment_session(&token).await {
        Ok(open) => {
            let billing = BillingFields::from(&open.session.billing);
            form_page(
                &req,
                &state,
                &open,
                FormView {
                    billing,
                    problem: None,
                },
            )
        }
        Err(e) => ended_page(&state, e),
    }
}

/// `POST /pay/{token}`. Nothing is sent upstream unless the session is open, the CSRF check
/// passed and every field is valid.
pub async fn pay(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: RawBody,
) -> HttpResponse {
    // The body (card number and CVV) is wiped as soon as it is parsed; the card fields live
    // on in wiped memory and then in the secret types only.
    let form = PostedForm::parse(&body);
    drop(body);
    let client_addr = client_addr(&req, &state.trusted_proxies);
    if let Err(refused) = state.admission.admit_address(client_addr) {
        return too_many_requests(&state, refused);
    }
    let Some(token) = SessionToken::parse(&token) else {
        return ended_page(&state, SessionError::Unknown);
    };
    let open = match state.service.open_payment_session(&token).await {
        Ok(open) => open,
        Err(e) => return ended_page(&state, e),
    };
    let id = open.session.checkout_id;
    let hosted = &state.hosted;
    let session = &open.session.token_hash;
    if let Err(refused) = csrf::check(
        &req,
        &hosted.csrf_key,
        session,
        &form.csrf,
        &hosted.base_url,
    ) {
        tracing::warn!(checkout_id = %id, reason = %refused, "payment page post refused");
        return csrf_refused(&state, &open);
    }
    let billing = form.billing.clone();
    if let Err(refused) = state.admission.admit_user(open.session.user_id.as_str()) {
        let problem = Some(ApiError::rate_limited(refused));
        return form_page(&req, &state, &open, FormView { billing, problem });
    }
    let input = match form.into_payment() {
        Ok(input) => input,
        Err(errors) => {
            let problem = Some(ApiError::validation(errors));
            return form_page(&req, &state, &open, FormView { billing, problem });
        }
    };
    let who = Requester {
        user: open.session.user_id.clone(),
        client_ip: client_addr.to_string(),
    };
    let attempt = PaymentAttempt {
        input,
        wait: state.max_wait,
        from: PayableFrom::Reserved,
    };
    match outcome_of(state.service.pay(&who, id, attempt).await) {
        Ok(outcome) => see_other(open.return_url.with_outcome(id, outcome)),
        Err(problem) => {
            after_problem(
                &req,
                &state,
                &token,
                FormView {
                    billing,
                    problem: Some(problem),
                },
            )
            .await
        }
    }
}

/// Where a payment leaves the user: back to the partner with an outcome, or a problem.
fn outcome_of(paid: Result<Checkout, CheckoutError>) -> Result<Outcome, ApiError> {
    match paid {
        Ok(checkout) if checkout.state == CheckoutState::PaymentAccepted => {
            Ok(Outcome::PaymentAccepted)
        }
        // Still paying when the wait ended: the app reads the checkout.
        Ok(checkout) if checkout.state.is_pending() => Ok(Outcome::Pending),
        Ok(_) => Err(ApiError::new(
            ErrorCode::InvalidState,
            "the payment did not go through; please try again",
        )),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// After a payment that did not go through, where the session stands now decides: a payment
/// accepted meanwhile (the form sent twice) sends the user back; a checkout that can no longer
/// be paid says so; otherwise the form again, with the problem, the session still open.
async fn after_problem(
    req: &HttpRequest,
    state: &AppState,
    token: &SessionToken,
    view: FormView,
) -> HttpResponse {
    match state.service.open_payment_session(token).await {
        Ok(open) => form_page(req, state, &open, view),
        Err(SessionError::Ended(ended)) if ended.reason == EndReason::Used => see_other(ended.back),
        Err(e) => ended_page(state, e),
    }
}

/// What the form shows: the billing fields' values and, after a post, what went wrong.
struct FormView {
    billing: BillingFields,
    problem: Option<ApiError>,
}

fn form_page(
    req: &HttpRequest,
    state: &AppState,
    open: &OpenSession,
    view: FormView,
) -> HttpResponse {
    let hosted = &state.hosted;
    let issued = csrf::issue(
        req,
        &hosted.csrf_key,
        &open.session.token_hash,
        hosted.secure_cookies(),
    );
    let problem = view.problem.as_ref();
    let field_message = |name: &str| {
        problem.and_then(|p| {
            p.errors
                .iter()
                .find(|e| e.field == name)
                .map(|e| e.message.as_str())
        })
    };
    let states: Vec<(&str, FieldState)> = FIELDS
        .iter()
        .map(|(name, _)| (*name, FieldState::of(name, field_message(name))))
        .collect();
    let keys: Vec<[String; 4]> = states
        .iter()
        .map(|(name, _)| ["class", "aria", "error", "value"].map(|part| format!("{name}.{part}")))
        .collect();
    let errors = problem.map_or_else(|| fill(NO_ERRORS, &[]), error_summary);
    let amount = amount(&open.checkout);
    let summary = summary(&open.checkout, amount.as_deref());
    let pay_label = amount.map_or_else(|| "Pay".to_owned(), |a| format!("Pay {a}"));
    let cancel = open
        .return_url
        .with_outcome(open.session.checkout_id, Outcome::Cancelled);
    let mut values: Vec<(&str, Value<'_>)> = vec![
        ("summary", Value::Text(&summary)),
        ("csrf", Value::Text(&issued.token)),
        ("pay_label", Value::Text(&pay_label)),
        ("cancel_url", Value::Text(cancel.as_str())),
        ("errors", Value::Markup(&errors)),
    ];
    for ((name, state), [class, aria, error, value]) in states.iter().zip(&keys) {
        values.push((class, Value::Text(state.class)));
        values.push((aria, Value::Markup(&state.aria)));
        values.push((error, Value::Markup(&state.error)));
        values.push((value, Value::Text(view.billing.get(name))));
    }
    let content = fill(render::FORM, &values);
    let status = view
        .problem
        .as_ref()
        .map_or(StatusCode::OK, |p| match p.code {
            ErrorCode::ValidationFailed
            | ErrorCode::PaymentDeclined
            | ErrorCode::InvalidSecurityCode => StatusCode::UNPROCESSABLE_ENTITY,
            code => {
                StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        });
    let mut resp = html(
        status,
        "Pay for your tickets",
        &content,
        &csp(&hosted.frame_ancestors, Some(&open.return_url.csp_source())),
    );
    if let Some(cookie) = issued.cookie {
        let _ = resp.add_cookie(&cookie);
    }
    if let Some(problem) = problem {
        resp.extensions_mut().insert(ProblemCode(problem.code));
    }
    resp
}

/// `#errors` for a problem: its code, words for the person paying, and a link to each
/// invalid field.
fn error_summary(problem: &ApiError) -> Html {
    let (heading, message) = words_for(problem.code);
    let items = render::error_items(
        problem
            .errors
            .iter()
            .map(|e| (e.field.as_str(), label_of(&e.field), e.message.as_str())),
    );
    fill(
        render::ERRORS,
        &[
            ("code", Value::Text(problem.code.as_str())),
            ("heading", Value::Text(heading)),
            ("message", Value::Text(message)),
            ("items", Value::Markup(&items)),
        ],
    )
}

/// What the person paying is told of a problem (the API's `detail` is for developers; the
/// code is on `#errors` as `data-code`).
fn words_for(code: ErrorCode) -> (&'static str, &'static str) {
    match code {
        ErrorCode::ValidationFailed => (
            "Please check the highlighted fields",
            "Correct them and pay again.",
        ),
        ErrorCode::PaymentDeclined => (
            "The card was declined",
            "Nothing was charged. Try another card, or ask your bank why it was declined.",
        ),
        ErrorCode::InvalidSecurityCode => (
            "The security code was not accepted",
            "Check the 3 or 4 digit code on your card and try again.",
        ),
        ErrorCode::RateLimited => ("Too many attempts", "Please wait a moment, then try again."),
        ErrorCode::MaintenanceWindow => (
            "Ticketing is in its nightly maintenance",
            "Nothing was charged. Please try again later.",
        ),
        ErrorCode::InvalidState => (
            "Another payment for these tickets is under way",
            "Wait a moment, then try again.",
        ),
        _ => (
            "The payment did not go through",
            "Nothing was charged. Please try again in a moment.",
        ),
    }
}

/// The checkout's total, as `USD 113.50`.
fn amount(checkout: &Checkout) -> Option<String> {
    let totals = checkout.totals.as_ref()?;
    Some(format!(
        "{} {}",
        totals.currency,
        totals.grand.to_decimal_string()
    ))
}

fn summary(checkout: &Checkout, amount: Option<&str>) -> String {
    let tickets: u32 = checkout.lines.iter().map(|l| l.quantity).sum();
    let tickets = match tickets {
        1 => "1 ticket".to_owned(),
        n => format!("{n} tickets"),
    };
    match amount {
        Some(amount) => format!("{tickets}, total {amount}"),
        None => tickets,
    }
}

/// A session that takes no payment: why, with the way back to the partner's app when known.
fn ended_page(state: &AppState, error: SessionError) -> HttpResponse {
    let (status, reason, heading, message, back) = match error {
        SessionError::Unknown => (
            StatusCode::NOT_FOUND,
            "unknown",
            "This payment link is not valid",
            "Check the link, or go back to the app and start the payment again.",
            None,
        ),
        SessionError::Ended(ended) => {
            let (status, reason, heading, message) = match ended.reason {
                EndReason::Expired => (
                    StatusCode::GONE,
                    "expired",
                    "This payment link has expired",
                    "Go back to the app to start the payment again.",
                ),
                EndReason::Used => (
                    StatusCode::GONE,
                    "used",
                    "This payment is already done",
                    "A payment was accepted for these tickets. Go back to the app to finish.",
                ),
                EndReason::HoldExpired => (
                    StatusCode::GONE,
                    "hold_expired",
                    "The hold on your tickets ran out",
                    "The tickets were released. Go back to the app to choose them again.",
                ),
                EndReason::NotPayable => (
                    StatusCode::CONFLICT,
                    "not_payable",
                    "These tickets can no longer be paid for",
                    "Go back to the app to see where your order stands.",
                ),
            };
            (status, reason, heading, message, Some(ended.back))
        }
        SessionError::Store(e) => {
            tracing::warn!(error = %e, "payment page: the database failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Something went wrong",
                "Please try again in a moment.",
                None,
            )
        }
    };
    let link = back.as_ref().map_or_else(Html::default, |url| {
        fill(
            BACK_LINK,
            &[
                ("href", Value::Text(url.as_str())),
                ("text", Value::Text("Return to the app")),
            ],
        )
    });
    let source = back.as_ref().map(origin_source);
    notice_page(
        state,
        status,
        Notice {
            reason,
            heading,
            message,
            link: &link,
        },
        source.as_deref(),
    )
}

/// The CSRF check failed: nothing was sent; reloading the page gives a fresh form.
fn csrf_refused(state: &AppState, open: &OpenSession) -> HttpResponse {
    // An empty `href` is this page's own address: a reload (GET) of the form.
    let link = fill(
        BACK_LINK,
        &[
            ("href", Value::Text("")),
            ("text", Value::Text("Reload the form")),
        ],
    );
    notice_page(
        state,
        StatusCode::FORBIDDEN,
        Notice {
            reason: "csrf",
            heading: "This form could not be sent",
            message: "Nothing was charged. Reload the form and try again.",
            link: &link,
        },
        Some(&open.return_url.csp_source()),
    )
}

/// Too many requests from the browser's address, refused before its link is looked up (each
/// look-up reads the database): 429 with `Retry-After`; reloading later shows the page.
fn too_many_requests(state: &AppState, refused: Refused) -> HttpResponse {
    let link = fill(
        BACK_LINK,
        &[
            ("href", Value::Text("")),
            ("text", Value::Text("Reload the page")),
        ],
    );
    let mut resp = notice_page(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        Notice {
            reason: "rate_limited",
            heading: "Too many requests",
            message: "Too many requests came from your network. Wait a few seconds, then reload the page.",
            link: &link,
        },
        None,
    );
    let seconds = crate::checkout::error::whole_seconds(refused.retry_after);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    resp
}

struct Notice<'a> {
    reason: &'a str,
    heading: &'a str,
    message: &'a str,
    link: &'a Html,
}

fn notice_page(
    state: &AppState,
    status: StatusCode,
    notice: Notice<'_>,
    return_to: Option<&str>,
) -> HttpResponse {
    let content = fill(
        render::NOTICE,
        &[
            ("reason", Value::Text(notice.reason)),
            ("heading", Value::Text(notice.heading)),
            ("message", Value::Text(notice.message)),
            ("link", Value::Markup(notice.link)),
        ],
    );
    html(
        status,
        notice.heading,
        &content,
        &csp(&state.hosted.frame_ancestors, return_to),
    )
}

/// The CSP source of a way back (its origin, or an app's scheme).
fn origin_source(url: &url::Url) -> String {
    crate::checkout::payment_session::ReturnUrl::stored(url.clone()).csp_source()
}

fn html(status: StatusCode, title: &str, content: &Html, policy: &str) -> HttpResponse {
    let page = fill(
        render::PAGE,
        &[
            ("title", Value::Text(title)),
            ("content", Value::Markup(content)),
        ],
    );
    let mut resp = HttpResponse::build(status);
    resp.content_type("text/html; charset=utf-8");
    if let Ok(policy) = HeaderValue::from_str(policy) {
        resp.insert_header((header::CONTENT_SECURITY_POLICY, policy));
    }
    resp.body(page.into_string())
}

/// Back to the partner's app. `303`: the browser follows with a `GET`, whatever was posted.
fn see_other(to: url::Url) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.as_str()))
        .finish()
}
