//! The page's posted form (`application/x-www-form-urlencoded`), from bytes to a payment.
//! Values are percent-decoded into memory that is wiped when dropped, the card number and
//! CVV go straight into the same secret types the JSON API parses into (`card.rs`), and the
//! rest goes through the JSON API's own rules (`http::parse`), so a payment is the same
//! payment whichever way it came. Errors name the form's fields (`card_number`, `line1`).

use zeroize::{Zeroize, Zeroizing};

use crate::card::{CardNumber, Cvv};
use crate::checkout::error::FieldError;
use crate::checkout::model::BillingPrefill;
use crate::checkout::payment::{CardInput, PaymentInput};
use crate::http::dto::{AddressBody, BillingBody};
use crate::http::parse::{Fields, parse_billing, parse_expiry};

/// The form's fields, in page order, with their labels (the error summary names them so).
pub const FIELDS: &[(&str, &str)] = &[
    ("card_number", "Card number"),
    ("expire_month", "Expiry month"),
    ("expire_year", "Expiry year"),
    ("cvv", "Security code"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("line1", "Address"),
    ("line2", "Address line 2"),
    ("city", "City"),
    ("region", "State or province"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
];

/// The label of a form field (the field's name for one the form does not have).
pub fn label_of(field: &str) -> &str {
    FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map_or(field, |(_, label)| label)
}

/// The billing fields as typed: shown again when the page is rendered again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingFields {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

impl BillingFields {
    /// The value of the field `name`, for the template: empty when it holds a card number
    /// (refused in a billing field; never written into the page again).
    pub fn get(&self, name: &str) -> &str {
        let value = self.typed(name);
        if crate::card::contains_grouped_card_number(value) {
            ""
        } else {
            value
        }
    }

    fn typed(&self, name: &str) -> &str {
        match name {
            "first_name" => &self.first_name,
            "last_name" => &self.last_name,
            "email" => &self.email,
            "phone" => &self.phone,
            "line1" => &self.line1,
            "line2" => &self.line2,
            "city" => &self.city,
            "region" => &self.region,
            "postal_code" => &self.postal_code,
            "country" => &self.country,
            _ => "",
        }
    }

    fn slot(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "line1" => &mut self.line1,
            "line2" => &mut self.line2,
            "city" => &mut self.city,
            "region" => &mut self.region,
            "postal_code" => &mut self.postal_code,
            "country" => &mut self.country,
            _ => return None,
        })
    }
}

/// The partner's prefill as the page first shows it. The form has no `unit` field: a
/// prefilled unit is shown in address line 2 (after the line given, if any).
impl From<&BillingPrefill> for BillingFields {
    fn from(b: &BillingPrefill) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let a = &b.address;
        let line2 = match (a.line2.as_deref(), a.unit.as_deref()) {
            (Some(line2), Some(unit)) => format!("{line2}, {unit}"),
            (line2, unit) => line2.or(unit).unwrap_or_default().to_owned(),
        };
        Self {
            first_name: text(&b.first_name),
            last_name: text(&b.last_name),
            email: text(&b.email),
            phone: text(&b.phone),
            line1: text(&a.line1),
            line2,
            city: text(&a.city),
            region: text(&a.region),
            postal_code: text(&a.postal_code),
            country: text(&a.country),
        }
    }
}

/// A posted form: its CSRF token, the billing as typed, and the card fields in wiped memory.
pub struct PostedForm {
    pub csrf: String,
    pub billing: BillingFields,
    card_number: Zeroizing<String>,
    cvv: Zeroizing<String>,
    expire_month: Zeroizing<String>,
    expire_year: Zeroizing<String>,
}

impl PostedForm {
    /// The fields of a urlencoded body; unknown ones are ignored, and of a field sent twice
    /// the first counts.
    pub fn parse(body: &[u8]) -> Self {
        let mut form = Self {
            csrf: String::new(),
            billing: BillingFields::default(),
            card_number: Zeroizing::default(),
            cvv: Zeroizing::default(),
            expire_month: Zeroizing::default(),
            expire_year: Zeroizing::default(),
        };
        let mut seen: Vec<String> = Vec::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name);
            if seen.iter().any(|s| s == name.as_str()) {
                continue;
            }
            seen.push(name.to_string());
            let value = decode(value);
            match name.as_str() {
                "csrf" => form.csrf = value.to_string(),
                "card_number" => form.card_number = value,
                "cvv" => form.cvv = value,
                "expire_month" => form.expire_month = value,
                "expire_year" => form.expire_year = value,
                other => {
                    if let Some(slot) = form.billing.slot(other) {
                        *slot = value.trim().to_owned();
                    }
                }
            }
        }
        form
    }

    /// The payment the form asks for, or every invalid field named by its form name. The
    /// card fields are consumed (and wiped) either way.
    pub fn into_payment(self) -> Result<PaymentInput, Vec<FieldError>> {
        let mut f = Fields::default();
        let number = f.take("card_number", CardNumber::parse(&self.card_number));
        let cvv = f.take("cvv", Cvv::parse(&self.cvv));
        let (month, year) = (number_in(&self.expire_month), year_in(&self.expire_year));
        let (month, year) = parse_expiry(&mut f, month, year);
        let billing = parse_billing(&mut f, &self.billing.to_body());
        match (number, cvv, month, year, billing) {
            (Some(number), Some(cvv), Some(expire_month), Some(expire_year), Some(billing))
                if f.errors.is_empty() =>
            {
                Ok(PaymentInput {
                    card: CardInput {
                        number,
                        cvv,
                        expire_month,
                        expire_year,
                    },
                    billing,
                })
            }
            _ => Err(f.errors.into_iter().map(named_by_form).collect()),
        }
    }
}

impl BillingFields {
    fn to_body(&self) -> BillingBody {
        BillingBody {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            address: AddressBody {
                line1: self.line1.clone(),
                line2: Some(self.line2.clone()),
                unit: None,
                city: self.city.clone(),
                region: self.region.clone(),
                postal_code: self.postal_code.clone(),
                country: self.country.clone(),
            },
        }
    }
}

/// The API's field paths end with the form's field names (`billing.address.line1`,
/// `card.expire_month`).
fn named_by_form(error: FieldError) -> FieldError {
    let field = error
        .field
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    FieldError { field, ..error }
}

/// A number typed in a field; -1 (refused by every rule) when it is none.
fn number_in(text: &str) -> i64 {
    let text = text.trim();
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return -1;
    }
    text.parse().unwrap_or(-1)
}

/// A card's year as cards print it: `28` is 2028.
fn year_in(text: &str) -> i64 {
    match number_in(text) {
        year @ 0..=99 if text.trim().len() == 2 => 2000 + year,
        year => year,
    }
}

/// Percent-decoding (`+` is a space) into memory wiped when dropped: the buffer is sized for
/// the input up front, so it never reallocates (which would leave a copy behind). Bytes that
/// are not UTF-8 make the value empty (a browser sends UTF-8).
fn decode(raw: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(Vec::with_capacity(raw.len()));
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let hex = |at: usize| raw.get(at).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(std::mem::take(&mut *out)) {
        Ok(text) => Zeroizing::new(text),
        Err(e) => {
            e.into_bytes().zeroize();
            Zeroizing::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "csrf=tok.en&card_number=4588+8832+0600+0011&expire_month=12&expire_year=28\
        &cvv=123&first_name=J%C3%BCrgen&last_name=Doe&email=j%40example.com&phone=212-867-5309\
        &line1=1+Main+St&line2=&city=Los+Angeles&region=ca&postal_code=90210&country=US";

    #[test]
    fn a_good_form_is_the_payment_the_json_api_would_make() {
        let form = PostedForm::parse(GOOD.as_bytes());
        assert_eq!(form.csrf, "tok.en");
        assert_eq!(form.billing.first_name, "Jürgen");
        assert_eq!(form.billing.email, "j@example.com");
        let payment = form.into_payment().expect("valid");
        assert_eq!(payment.card.number.last4(), "0011");
        assert_eq!(payment.card.expire_year.get(), 2028);
        assert_eq!(payment.card.expire_month.get(), 12);
        assert_eq!(payment.billing.address.region.as_str(), "CA");
        assert!(payment.billing.address.line2.is_none());
        // Never printed, not even in Debug.
        assert!(!format!("{payment:?}").contains("4588883206000011"));
    }

    #[test]
    fn every_invalid_field_is_named_as_the_form_names_it() {
        let body = "card_number=4588883206000012&cvv=12&expire_month=13&expire_year=19x\
            &first_name=&email=nope&phone=1&line1=x&city=y&region=ZZ&postal_code=!&country=US";
        let errors = PostedForm::parse(body.as_bytes())
            .into_payment()
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "card_number",
                "cvv",
                "expire_month",
                "expire_year",
                "first_name",
                "last_name",
                "email",
                "phone",
                "postal_code",
                "region"
            ]
        );
        for error in &errors {
            assert!(!error.message.contains("4588"), "{error:?}");
            assert_ne!(label_of(&error.field), error.field, "{error:?} has a label");
        }
    }

    #[test]
    fn decoding_handles_plus_percent_and_broken_escapes() {
        assert_eq!(decode(b"a+b%20c%2").as_str(), "a b c%2");
        assert_eq!(decode(b"%zz%41").as_str(), "%zzA");
        assert_eq!(decode(b"%ff").as_str(), "");
        let form = PostedForm::parse(b"first_name=A&first_name=B&unknown=1&=x&&line2");
        assert_eq!(form.billing.first_name, "A");
    }

    #[test]
    fn the_prefill_fills_the_billing_fields() {
        let mut prefill = BillingPrefill {
            first_name: Some("Ann".into()),
            ..Default::default()
        };
        prefill.address.unit = Some("Apt 4".into());
        let fields = BillingFields::from(&prefill);
        assert_eq!(fields.first_name, "Ann");
        assert_eq!(fields.line2, "Apt 4");
        prefill.address.line2 = Some("Floor 2".into());
        assert_eq!(BillingFields::from(&prefill).line2, "Floor 2, Apt 4");
    }
}
