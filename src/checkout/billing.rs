//! Billing input newtypes: country, region, email, phone, postal code and free-text names/lines,
//! parsed once at the edge into values the upstream payment call accepts.
//!
//! Each parser returns `Result<T, FieldError>`: the error says what rule failed, never quotes
//! the input (billing data is personal data), and carries no field name — the caller knows
//! where the value came from and attaches the path with [`FieldError::at`], giving a
//! [`BillingError`] the HTTP layer can report as `billing.address.region: …`.
//!
//! Country ids and the US/Canadian region list come from the Partner API appendix ("Country
//! Codes", "State IDs for cart purchase request"); the abbreviations are the USPS / Canada Post
//! ones for those names.

use std::fmt;

use crate::upstream::wire;

/// Why one billing value was refused. Messages name the rule only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must not contain a card number")]
    CardNumber,
    #[error("unsupported country; supported: US, CA, AU, MX, NZ")]
    UnsupportedCountry,
    #[error("must be a 2 or 3 letter state/province abbreviation")]
    BadRegion,
    #[error("is not a state, territory or province of {country}")]
    UnknownRegion { country: &'static str },
    #[error("must be an email address like name@example.com")]
    BadEmail,
    #[error(
        "must be 7 to 20 characters of digits, spaces, '+', '-' and parentheses, with at least 7 digits"
    )]
    BadPhone,
    #[error("must be 1 to 12 letters, digits, spaces or dashes")]
    BadPostalCode,
}

impl FieldError {
    /// Attaches the field path (e.g. `billing.address.region`) the value came from.
    pub fn at(self, field: impl Into<String>) -> BillingError {
        BillingError {
            field: field.into(),
            error: self,
        }
    }
}

/// A refused billing value and where it was: what the HTTP layer turns into a validation
/// problem naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct BillingError {
    pub field: String,
    #[source]
    pub error: FieldError,
}

// ---------------------------------------------------------------- country

/// The countries the Partner API accepts in a billing address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Country {
    UnitedStates,
    Canada,
    Australia,
    Mexico,
    NewZealand,
}

impl Country {
    pub const ALL: [Country; 5] = [
        Country::UnitedStates,
        Country::Canada,
        Country::Australia,
        Country::Mexico,
        Country::NewZealand,
    ];

    /// Parses an ISO 3166-1 alpha-2 code, case-insensitively.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let code = input.trim();
        Country::ALL
            .into_iter()
            .find(|c| c.alpha2().eq_ignore_ascii_case(code))
            .ok_or(FieldError::UnsupportedCountry)
    }

    pub fn alpha2(self) -> &'static str {
        match self {
            Country::UnitedStates => "US",
            Country::Canada => "CA",
            Country::Australia => "AU",
            Country::Mexico => "MX",
            Country::NewZealand => "NZ",
        }
    }

    /// The Partner API's numeric country id (the appendix table; equal to ISO 3166 numeric).
    /// Note: the payment example's comment says "36 for Canada", but the appendix gives 36 to
    /// Australia and 124 to Canada, as ISO does; the table is followed.
    pub fn upstream_id(self) -> u16 {
        match self {
            Country::UnitedStates => 840,
            Country::Canada => 124,
            Country::Australia => 36,
            Country::Mexico => 484,
            Country::NewZealand => 554,
        }
    }

    pub fn to_wire(self) -> wire::CountryRef {
        wire::CountryRef {
            id: self.upstream_id(),
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha2())
    }
}

// ---------------------------------------------------------------- region

/// (abbreviation, appendix state id) for the US states/territories and Canadian provinces.
const US_REGIONS: &[(&str, u16)] = &[
    ("AL", 1),  // Alabama
    ("AK", 2),  // Alaska
    ("AS", 3),  // American Samoa
    ("AZ", 4),  // Arizona
    ("AR", 5),  // Arkansas
    ("AE", 6),  // Armed Forces Other (Europe, Africa, Middle East, Canada)
    ("AA", 7),  // Armed Forces Americas
    ("AP", 11), // Armed Forces Pacific
    ("CA", 12), // California
    ("CO", 13), // Colorado
    ("CT", 14), // Connecticut
    ("DE", 15), // Delaware
    ("DC", 16), // District Of Columbia
    ("FM", 17), // Federated States Of Micronesia
    ("FL", 18), // Florida
    ("GA", 19), // Georgia
    ("GU", 20), // Guam
    ("HI", 21), // Hawaii
    ("ID", 22), // Idaho
    ("IL", 23), // Illinois
    ("IN", 24), // Indiana
    ("IA", 25), // Iowa
    ("KS", 26), // Kansas
    ("KY", 27), // Kentucky
    ("LA", 28), // Louisiana
    ("ME", 29), // Maine
    ("MH", 30), // Marshall Islands
    ("MD", 31), // Maryland
    ("MA", 32), // Massachusetts
    ("MI", 33), // Michigan
    ("MN", 34), // Minnesota
    ("MS", 35), // Mississippi
    ("MO", 36), // Missouri
    ("MT", 37), // Montana
    ("NE", 38), // Nebraska
    ("NV", 39), // Nevada
    ("NH", 40), // New Hampshire
    ("NJ", 41), // New Jersey
    ("NM", 42), // New Mexico
    ("NY", 43), // New York
    ("NC", 44), // North Carolina
    ("ND", 45), // North Dakota
    ("MP", 46), // Northern Mariana Islands
    ("OH", 47), // Ohio
    ("OK", 48), // Oklahoma
    ("OR", 49), // Oregon
    ("PW", 50), // Palau
    ("PA", 51), // Pennsylvania
    ("PR", 52), // Puerto Rico
    ("RI", 53), // Rhode Island
    ("SC", 54), // South Carolina
    ("SD", 55), // South Dakota
    ("TN", 56), // Tennessee
    ("TX", 57), // Texas
    ("UT", 58), // Utah
    ("VT", 59), // Vermont
    ("VI", 60), // Virgin Islands
    ("VA", 61), // Virginia
    ("WA", 62), // Washington
    ("WV", 63), // West Virginia
    ("WI", 64), // Wisconsin
    ("WY", 65), // Wyoming
];

const CA_REGIONS: &[(&str, u16)] = &[
    ("AB", 66), // Alberta
    ("BC", 67), // British Columbia
    ("MB", 68), // Manitoba
    ("NB", 69), // New Brunswick
    ("NL", 70), // Newfoundland and Labrador
    ("NT", 71), // Northwest Territories
    ("NS", 72), // Nova Scotia
    ("NU", 73), // Nunavut
    ("ON", 74), // Ontario
    ("PE", 75), // Prince Edward Island
    ("QC", 76), // Quebec
    ("SK", 77), // Saskatchewan
    ("YT", 78), // Yukon
];

/// A state/province abbreviation: 2–3 ASCII letters, upper case. For the US and Canada it is
/// one of the appendix's regions; for the other countries only the shape is checked (the docs
/// list no regions for them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    pub fn parse(input: &str, country: Country) -> Result<Self, FieldError> {
        let Region(abbrev) = Self::parse_shape(input)?;
        let listed = Self::table(country).is_none_or(|t| t.iter().any(|(a, _)| *a == abbrev));
        if !listed {
            return Err(FieldError::UnknownRegion {
                country: country.alpha2(),
            });
        }
        Ok(Region(abbrev))
    }

    /// The abbreviation's shape only: for a region whose country is not known (a payment
    /// session's billing prefill may give one without the other; the payment checks both).
    pub fn parse_shape(input: &str) -> Result<Self, FieldError> {
        let abbrev = input.trim();
        if !(2..=3).contains(&abbrev.len()) || !abbrev.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(FieldError::BadRegion);
        }
        Ok(Region(abbrev.to_ascii_uppercase()))
    }

    fn table(country: Country) -> Option<&'static [(&'static str, u16)]> {
        match country {
            Country::UnitedStates => Some(US_REGIONS),
            Country::Canada => Some(CA_REGIONS),
            Country::Australia | Country::Mexico | Country::NewZealand => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The appendix's numeric state id, for US and Canadian regions.
    pub fn state_id(&self) -> Option<u16> {
        US_REGIONS
            .iter()
            .chain(CA_REGIONS)
            .find(|(a, _)| *a == self.0)
            .map(|(_, id)| *id)
    }

    pub fn to_wire(&self) -> wire::Abbrev {
        wire::Abbrev {
            abbrev: self.0.clone(),
        }
    }
}

// ---------------------------------------------------------------- email, phone, postal code

/// An email address, sanity-checked only (one `@`, a local part, a dotted domain, ≤ 254
/// characters): deliverability is the upstream's concern, and stricter grammars refuse real
/// addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let email = input.trim();
        if email.is_empty() {
            return Err(FieldError::Empty);
        }
        if email.len() > Self::MAX_LEN {
            return Err(FieldError::TooLong { max: Self::MAX_LEN });
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::BadEmail);
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(FieldError::BadEmail);
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || !domain_ok {
            return Err(FieldError::BadEmail);
        }
        Ok(Email(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number as the user wrote it (the docs' example is `212-867-5309`): 7–20 characters
/// of digits, spaces, `+`, `-`, `(` and `)`, with at least 7 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let phone = input.trim();
        if phone.is_empty() {
            return Err(FieldError::Empty);
        }
        let allowed = phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'));
        let digits = phone.bytes().filter(u8::is_ascii_digit).count();
        // All allowed characters are ASCII, so byte length is character count here.
        if !allowed || !(7..=20).contains(&phone.len()) || digits < 7 {
            return Err(FieldError::BadPhone);
        }
        Ok(Phone(phone.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal or ZIP code: 1–12 ASCII letters, digits, spaces or dashes (covers US ZIP+4,
/// Canadian `K1A 0B1`, and the other supported countries' numeric codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalCode(String);

impl PostalCode {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let code = input.trim();
        if code.is_empty() {
            return Err(FieldError::Empty);
        }
        let allowed = code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-');
        if !allowed || code.len() > 12 {
            return Err(FieldError::BadPostalCode);
        }
        Ok(PostalCode(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------- free text

/// A trimmed, non-empty line of text (names, address lines, city): 1–100 characters, no
/// control characters (they break upstream records and log lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty(String);

impl NonEmpty {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(FieldError::Empty);
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if text.chars().any(char::is_control) {
            return Err(FieldError::ControlCharacters);
        }
        // A card number typed (or prefilled) into a name or an address line would be kept in
        // a payment session and sent upstream in clear, unlike the card's own fields.
        if crate::card::contains_grouped_card_number(text) {
            return Err(FieldError::CardNumber);
        }
        Ok(NonEmpty(text.to_owned()))
    }

    /// Parses an optional line: absent or blank becomes `None`, anything else must be valid.
    pub fn parse_optional(input: Option<&str>) -> Result<Option<Self>, FieldError> {
        match input {
            Some(s) if !s.trim().is_empty() => Self::parse(s).map(Some),
            _ => Ok(None),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NonEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------- assembled address

/// A parsed billing address, ready for the upstream payment call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAddress {
    pub line1: NonEmpty,
    pub line2: Option<NonEmpty>,
    pub unit: Option<NonEmpty>,
    pub city: NonEmpty,
    pub region: Region,
    pub postal_code: PostalCode,
    pub country: Country,
}

impl BillingAddress {
    pub fn to_wire(&self) -> wire::PaymentAddress {
        wire::PaymentAddress {
            line1: self.line1.as_str().to_owned(),
            // Upstream requires `line2` to be present but allows it empty.
            line2: self
                .line2
                .as_ref()
                .map(|l| l.as_str().to_owned())
                .unwrap_or_default(),
            unit: self.unit.as_ref().map(|u| u.as_str().to_owned()),
            city: self.city.as_str().to_owned(),
            country: self.country.to_wire(),
            region: self.region.to_wire(),
            postal_code: self.postal_code.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
