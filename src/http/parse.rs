//! The public request bodies, from bytes to domain inputs: JSON with the failing field's path
//! named ([`super::body`]), then every field through its newtype, collecting each invalid field
//! instead of stopping at the first. Pure functions of their input, so the `request_parsers`
//! fuzz target (`fuzz/`) runs exactly what the handlers run.

use super::body::parse_json;
use super::dto::session::{AddressPrefillBody, BillingPrefillBody, PaymentSessionRequestBody};
use super::dto::{AddressBody, BillingBody, CreateCheckoutRequest, PaymentRequestBody};
use super::problem::ApiError;
use crate::card::{ExpiryMonth, ExpiryYear};
use crate::checkout::billing::{
    BillingAddress, Country, Email, NonEmpty, Phone, PostalCode, Region,
};
use crate::checkout::catalog::parse_event_id;
use crate::checkout::error::FieldError;
use crate::checkout::model::{AddressPrefill, BillingPrefill, TicketRequest};
use crate::checkout::payment::{Billing, CardInput, PaymentInput};
use crate::checkout::payment_session::SessionRequest;
use crate::checkout::service::NewCheckout;

/// The body of `POST /v1/checkouts`.
pub fn create_request(body: &[u8]) -> Result<NewCheckout, ApiError> {
    parse_new_checkout(parse_json(body)?)
}

/// The body of `PUT /v1/checkouts/{id}/payment`. The card stays in its secret types.
pub fn payment_request(body: &[u8]) -> Result<PaymentInput, ApiError> {
    parse_payment(parse_json(body)?)
}

/// The body of `POST /v1/checkouts/{id}/payment-session`: each billing field given is checked
/// by the payment's rules (the return URL is the checkout service's to check, against its
/// allow-list).
pub fn payment_session_request(body: &[u8]) -> Result<SessionRequest, ApiError> {
    let body: PaymentSessionRequestBody = parse_json(body)?;
    let mut f = Fields::default();
    let billing = body
        .billing
        .as_ref()
        .map(|b| parse_prefill(&mut f, b))
        .unwrap_or_default();
    if !f.errors.is_empty() {
        return Err(ApiError::validation(f.errors));
    }
    Ok(SessionRequest {
        return_url: body.return_url,
        billing,
    })
}

/// One prefill field: absent or blank is `None`; anything else must parse, and is kept as
/// the parser normalised it.
fn prefill<T, E: std::fmt::Display>(
    f: &mut Fields,
    name: &str,
    value: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
    text: impl FnOnce(&T) -> &str,
) -> Option<String> {
    let parsed = f.take(name, parse(optional(value)?))?;
    Some(text(&parsed).to_owned())
}

fn parse_prefill(f: &mut Fields, b: &BillingPrefillBody) -> BillingPrefill {
    let no_address = AddressPrefillBody::default();
    let a = b.address.as_ref().unwrap_or(&no_address);
    let country = optional(&a.country).and_then(|c| Country::parse(c).ok());
    let region = |input: &str| match country {
        Some(country) => Region::parse(input, country),
        // No country, or an invalid one (named on its own): the shape alone.
        None => Region::parse_shape(input),
    };
    let name = NonEmpty::parse;
    BillingPrefill {
        first_name: prefill(
            f,
            "billing.first_name",
            &b.first_name,
            name,
            NonEmpty::as_str,
        ),
        last_name: prefill(f, "billing.last_name", &b.last_name, name, NonEmpty::as_str),
        email: prefill(f, "billing.email", &b.email, Email::parse, Email::as_str),
        phone: prefill(f, "billing.phone", &b.phone, Phone::parse, Phone::as_str),
        address: AddressPrefill {
            line1: prefill(f, "billing.address.line1", &a.line1, name, NonEmpty::as_str),
            line2: prefill(f, "billing.address.line2", &a.line2, name, NonEmpty::as_str),
            unit: prefill(f, "billing.address.unit", &a.unit, name, NonEmpty::as_str),
            city: prefill(f, "billing.address.city", &a.city, name, NonEmpty::as_str),
            region: prefill(
                f,
                "billing.address.region",
                &a.region,
                region,
                Region::as_str,
            ),
            postal_code: prefill(
                f,
                "billing.address.postal_code",
                &a.postal_code,
                PostalCode::parse,
                PostalCode::as_str,
            ),
            country: prefill(
                f,
                "billing.address.country",
                &a.country,
                Country::parse,
                |c| c.alpha2(),
            ),
        },
    }
}

fn parse_new_checkout(body: CreateCheckoutRequest) -> Result<NewCheckout, ApiError> {
    let mut errors = Vec::new();
    if parse_event_id(&body.event_id).is_none() {
        errors.push(FieldError::new(
            "event_id",
            "must be an alphanumeric event id",
        ));
    }
    let captcha_token = body.captcha_token.unwrap_or_default().trim().to_owned();
    let no_captcha = captcha_token.is_empty();
    if no_captcha {
        errors.push(FieldError::new(
            "captcha_token",
            "is required: solve the captcha from GET /v1/captcha",
        ));
    }
    if body.tickets.is_empty() {
        errors.push(FieldError::new(
            "tickets",
            "at least one ticket type is required",
        ));
    }
    let mut tickets = Vec::new();
    for (i, t) in body.tickets.into_iter().enumerate() {
        if t.ticket_id.is_empty()
            || t.ticket_id.len() > 32
            || !t.ticket_id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            errors.push(FieldError::new(
                format!("tickets[{i}].ticket_id"),
                "must be an alphanumeric ticket id",
            ));
        }
        match u32::try_from(t.quantity) {
            Ok(q) if q > 0 => tickets.push(TicketRequest {
                ticket_id: t.ticket_id,
                quantity: q,
                price_level_id: t.price_level_id,
            }),
            _ => errors.push(FieldError::new(
                format!("tickets[{i}].quantity"),
                if t.quantity > 0 {
                    "is too large"
                } else {
                    "must be greater than 0"
                },
            )),
        }
    }
    if no_captcha {
        // The contract's code for a missing captcha, with every other field's error beside it.
        return Err(ApiError {
            code: crate::checkout::error::ErrorCode::CaptchaInvalid,
            ..ApiError::validation(errors)
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(NewCheckout {
        event_id: body.event_id,
        captcha_token,
        tickets,
    })
}

/// Collects every field error of a body instead of stopping at the first.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) errors: Vec<FieldError>,
}

impl Fields {
    pub(super) fn take<T, E: std::fmt::Display>(
        &mut self,
        name: &str,
        parsed: Result<T, E>,
    ) -> Option<T> {
        parsed
            .map_err(|e| self.errors.push(FieldError::new(name, e.to_string())))
            .ok()
    }
}

fn optional(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.trim().is_empty())
}

fn parse_address(f: &mut Fields, a: &AddressBody) -> Option<BillingAddress> {
    let line1 = f.take("billing.address.line1", NonEmpty::parse(&a.line1));
    let line2 = f.take(
        "billing.address.line2",
        NonEmpty::parse_optional(optional(&a.line2)),
    );
    let unit = f.take(
        "billing.address.unit",
        NonEmpty::parse_optional(optional(&a.unit)),
    );
    let city = f.take("billing.address.city", NonEmpty::parse(&a.city));
    let postal_code = f.take(
        "billing.address.postal_code",
        PostalCode::parse(&a.postal_code),
    );
    let country = f.take("billing.address.country", Country::parse(&a.country))?;
    let region = f.take("billing.address.region", Region::parse(&a.region, country));
    Some(BillingAddress {
        line1: line1?,
        line2: line2?,
        unit: unit?,
        city: city?,
        region: region?,
        postal_code: postal_code?,
        country,
    })
}

/// A payment's billing; each invalid field named by its path (`billing.address.city`).
pub(super) fn parse_billing(f: &mut Fields, b: &BillingBody) -> Option<Billing> {
    let first_name = f.take("billing.first_name", NonEmpty::parse(&b.first_name));
    let last_name = f.take("billing.last_name", NonEmpty::parse(&b.last_name));
    let email = f.take("billing.email", Email::parse(&b.email));
    let phone = f.take("billing.phone", Phone::parse(&b.phone));
    let address = parse_address(f, &b.address);
    Some(Billing {
        first_name: first_name?,
        last_name: last_name?,
        email: email?,
        phone: phone?,
        address: address?,
    })
}

/// A card's expiry month and year, named `card.expire_month` and `card.expire_year`.
pub(super) fn parse_expiry(
    f: &mut Fields,
    month: i64,
    year: i64,
) -> (Option<ExpiryMonth>, Option<ExpiryYear>) {
    let month = u8::try_from(month)
        .map_err(|_| "must be 1–12".to_owned())
        .and_then(|m| ExpiryMonth::new(m).map_err(|e| e.to_string()));
    let month = f.take("card.expire_month", month);
    let year = u16::try_from(year)
        .map_err(|_| "must be a four-digit year".to_owned())
        .and_then(|y| ExpiryYear::new(y).map_err(|e| e.to_string()));
    let year = f.take("card.expire_year", year);
    (month, year)
}

fn parse_payment(body: PaymentRequestBody) -> Result<PaymentInput, ApiError> {
    let mut f = Fields::default();
    let (month, year) = parse_expiry(&mut f, body.card.expire_month, body.card.expire_year);
    let billing = parse_billing(&mut f, &body.billing);
    match (month, year, billing) {
        (Some(expire_month), Some(expire_year), Some(billing)) if f.errors.is_empty() => {
            Ok(PaymentInput {
                card: CardInput {
                    number: body.card.number,
                    cvv: body.card.cvv,
                    expire_month,
                    expire_year,
                },
                billing,
            })
        }
        _ => Err(ApiError::validation(f.errors)),
    }
}
